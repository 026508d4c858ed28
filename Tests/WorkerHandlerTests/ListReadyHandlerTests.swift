import Foundation
import Logging
import Testing
import DialerDispatcher
import SamparkAMQP
import SamparkCore
import SamparkPostgres
@testable import SamparkRuntime
import SamparkSchema
import SamparkTestSupport

/// The dispatcher's handler on its own, in a transaction on a fresh database: the rule that an
/// opt-out holds from the moment it is stored, even for a list built before it.
@Suite struct ListReadyHandlerTests {
    @Test func aNumberThatOptedOutAfterTheListWasBuiltIsNotOffered() async throws {
        let amqp = try await AMQPConnection.connect(url: try TestEnvironment.amqpURL())
        let centre = "T\(UInt32.random(in: 0..<UInt32.max))"
        try await FreshDatabase.with("handler") { db in
            let pool = db.pool
            try await pool.withConnection { conn in
                try conn.executeScript("""
                    INSERT INTO org_units (id, level, code, name, path, state_id) VALUES (1, 'state', 'S', 'State', '1', 1);
                    INSERT INTO call_centres (code, name, seats) VALUES ('\(centre)', 'Centre', 5);
                    INSERT INTO call_centre_regions (centre_id, unit_id) SELECT id, 1 FROM call_centres;
                    INSERT INTO contacts (id, phone, name, booth_id, state_id) VALUES (1, '+919800000001', 'A', 1, 1), (2, '+919800000002', 'B', 1, 1);
                    INSERT INTO campaigns (id, code, kind, name, scope_id) VALUES (1, 'campaign-1', 'gotv', 'Poll', 1);
                    INSERT INTO call_lists (id, campaign_id) VALUES (1, 1);
                    INSERT INTO list_entries (list_id, contact_id, phone, centre_id)
                        SELECT 1, c.id, c.phone, cc.id FROM contacts c, call_centres cc;
                    -- After the list was built, the first number asks not to be called.
                    INSERT INTO opt_outs (phone, source) VALUES ('+919800000001', 'helpline');
                    """)
            }
            // What the dispatcher's start declares (on a fresh broker nothing else has).
            try await Topology.declareExchanges(on: amqp)
            let offerQueues = OfferQueues(amqp: amqp, pool: pool, logger: Logger(label: "test"))
            try await offerQueues.refresh()
            let handler = ListReadyHandler(offerQueues: offerQueues)
            let ready = ListReady(requestID: "r1", listID: 1, campaignID: 1, campaign: "campaign-1", kind: .getOutTheVote, audience: 2,
                                  entries: 2, suppressed: [], centres: [.init(centre, 2)], hash: "0000000000000000")
            try await db.handle(handler, ready, messageID: "ready-1")
            let states = try await pool.query("SELECT phone, state FROM list_entries ORDER BY phone")
                .map { "\(try $0.decode(String.self, at: 0)) \(try $0.decode(String.self, at: 1))" }
            #expect(states == ["+919800000001 suppressed", "+919800000002 offered"])
            let offers = try await pool.query("SELECT type, routing_key FROM outbox")
                .map { "\(try $0.decode(String.self, at: 0)) \(try $0.decode(String.self, at: 1))" }
            #expect(offers == ["call.offer.v1 call.offer.\(centre)"], "one offer, for the number that may be called")
        }
        try? await amqp.deleteQueue(Topology.offerQueue(centre: centre))
        await amqp.close()
    }
}
