import Foundation
import SamparkCore
import SamparkPostgres
import SamparkRuntime

/// Handles `list.build.v1`: stores the campaign, builds its call list in one set-based
/// statement, and announces `list.ready.v1`.
///
/// Today every kind of campaign draws the contacts of its scope's subtree; each phone is called
/// once (household members share phones), opted-out numbers are left out, and each call goes
/// to the centre whose region is the deepest one holding the contact's booth. The audiences
/// particular to each kind (committees, weak booths, voters yet to vote) come with the list
/// issue.
public struct ListBuildHandler: MessageHandler {
    public init() {}

    public func handle(_ request: ListBuildRequest, context: HandlerContext) throws {
        let connection = context.connection
        guard let scope = try connection.query("SELECT id, path::text FROM org_units WHERE code = $1", [request.scope], prepared: true).first else {
            throw HandlerError.permanent("scope: no unit has the code in this request")
        }
        let scopeID = try scope.decode(Int64.self, at: 0), scopePath = try scope.decode(String.self, at: 1)
        let campaignID = try connection.query("""
            INSERT INTO campaigns (kind, name, scope_id, material_code) VALUES ($1, $2, $3, $4) RETURNING id
            """, [request.kind.rawValue, request.campaignName, scopeID, request.material], prepared: true)[0].decode(Int64.self, at: 0)
        let listID = try connection.query("INSERT INTO call_lists (campaign_id) VALUES ($1) RETURNING id",
                                          [campaignID], prepared: true)[0].decode(Int64.self, at: 0)

        // Contacts in scope → one per phone → not opted out → with a centre.
        let counts = try connection.query("""
            WITH in_scope AS (
                SELECT c.id, c.phone, c.phone_kind, b.path FROM contacts c JOIN org_units b ON b.id = c.booth_id
                WHERE b.path <@ $2::ltree
            ), one_per_phone AS (
                -- Landlines are kept in contacts but never called.
                SELECT DISTINCT ON (phone) id, phone, path FROM in_scope WHERE phone_kind = 'mobile' ORDER BY phone, id
            ), callable AS (
                SELECT p.* FROM one_per_phone p WHERE NOT EXISTS (SELECT 1 FROM opt_outs o WHERE o.phone = p.phone)
            ), placed AS (
                SELECT c.id, c.phone, centre.id AS centre_id FROM callable c
                LEFT JOIN LATERAL (
                    SELECT cc.id FROM call_centres cc JOIN call_centre_regions ccr ON ccr.centre_id = cc.id
                    JOIN org_units r ON r.id = ccr.unit_id
                    WHERE c.path <@ r.path ORDER BY nlevel(r.path) DESC, cc.id LIMIT 1
                ) centre ON true
            ), inserted AS (
                INSERT INTO list_entries (list_id, contact_id, phone, centre_id)
                SELECT $1, id, phone, centre_id FROM placed WHERE centre_id IS NOT NULL
                RETURNING centre_id
            )
            SELECT (SELECT count(*) FROM in_scope WHERE phone_kind = 'mobile') - (SELECT count(*) FROM one_per_phone) AS duplicate,
                   (SELECT count(*) FROM in_scope WHERE phone_kind <> 'mobile') AS landline,
                   (SELECT count(*) FROM one_per_phone) - (SELECT count(*) FROM callable) AS opted_out,
                   (SELECT count(*) FROM placed WHERE centre_id IS NULL) AS no_centre,
                   (SELECT count(*) FROM inserted) AS entries
            """, [listID, scopePath], prepared: true)[0]
        let perCentre = try connection.query("""
            SELECT cc.code, count(*) FROM list_entries e JOIN call_centres cc ON cc.id = e.centre_id
            WHERE e.list_id = $1 GROUP BY cc.code ORDER BY cc.code
            """, [listID], prepared: true).map { ListReady.Count(try $0.decode(String.self, at: 0), try $0.decode(Int.self, at: 1)) }
        let suppressed = try ["duplicate", "landline", "opted_out", "no_centre"].map { ListReady.Count($0, try counts.decode(Int.self, column: $0)) }
            .filter { $0.count > 0 }
        let ready = ListReady(listID: listID, campaignID: campaignID, kind: request.kind,
                              entries: try counts.decode(Int.self, column: "entries"), suppressed: suppressed, centres: perCentre)
        try context.publish(ready, exchange: Topology.listsExchange, routingKey: "list.ready")
        if let replyTo = context.replyTo {
            try context.publish(ready, exchange: "", routingKey: replyTo, messageID: "\(context.messageID)/reply")
        }
    }
}
