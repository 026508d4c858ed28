import Foundation
import SamparkCore
import SamparkPostgres
import SamparkRuntime

/// Handles `list.ready.v1`: offers each pending entry of the list to its centre, as
/// `call.offer.v1` on `sampark.calls` with routing key `call.offer.<centre>`.
///
/// An offer can only be published once the centre's offer queue exists; `OfferQueues` declares
/// them. If a centre of this list has no queue yet, the message is retried (transient) after
/// asking for the queues to be declared, rather than offers being published into the void.
/// Calling hours, silence periods and pacing come with the dispatcher issue: today every
/// pending entry is offered at once.
public struct ListReadyHandler: MessageHandler {
    let offerQueues: OfferQueues
    /// How long an offer stays valid.
    let offerLifetime: TimeInterval

    public init(offerQueues: OfferQueues, offerLifetime: TimeInterval = 15 * 60) {
        self.offerQueues = offerQueues
        self.offerLifetime = offerLifetime
    }

    public func handle(_ ready: ListReady, context: HandlerContext) throws {
        let missing = ready.centres.map(\.name).filter { !offerQueues.isDeclared($0) }
        if !missing.isEmpty {
            offerQueues.requestRefresh()
            throw HandlerError.transient("no offer queue yet for centre(s) \(missing.joined(separator: ", "))")
        }
        // A number that opted out after the list was built is not offered: the rule holds
        // from the moment the opt-out is stored.
        try context.connection.execute("""
            UPDATE list_entries e SET state = 'suppressed', last_result = 'opted_out'
            WHERE e.list_id = $1 AND e.state = 'pending' AND EXISTS (SELECT 1 FROM opt_outs o WHERE o.phone = e.phone)
            """, [ready.listID], prepared: true)
        let offered = try context.connection.query("""
            UPDATE list_entries e SET state = 'offered', attempts = e.attempts + 1, offered_at = now()
            FROM call_centres cc, call_lists l, campaigns k
            WHERE e.list_id = $1 AND e.state = 'pending' AND cc.id = e.centre_id
              AND l.id = e.list_id AND k.id = l.campaign_id
            RETURNING e.id, e.phone, cc.code,
                      coalesce((SELECT c.name FROM contacts c WHERE c.id = e.contact_id), (SELECT p.name FROM people p WHERE p.id = e.person_id)),
                      (SELECT c.language FROM contacts c WHERE c.id = e.contact_id), k.kind, e.attempts
            """, [ready.listID], prepared: true)
        let expires = Date().addingTimeInterval(offerLifetime)
        for row in offered {
            let entryID = try row.decode(Int64.self, at: 0)
            let centre = try row.decode(String.self, at: 2)
            guard let kind = CampaignKind(rawValue: try row.decode(String.self, at: 5)) else {
                throw HandlerError.permanent("list \(ready.listID) has a campaign of an unknown kind")
            }
            let offer = CallOffer(entryID: entryID, listID: ready.listID, centre: centre, kind: kind,
                                  phone: try row.decode(String.self, at: 1), name: try row.decode(String.self, at: 3),
                                  language: try row.decode(String?.self, at: 4), expiresAt: expires)
            try context.publish(offer, exchange: Topology.callsExchange, routingKey: Topology.offerQueue(centre: centre),
                                messageID: "offer-\(entryID)-\(try row.decode(Int.self, at: 6))")
        }
    }
}
