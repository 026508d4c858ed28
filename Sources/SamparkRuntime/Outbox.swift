import Foundation
import SamparkCore
import SamparkPostgres

/// The outbox table: messages a transaction decided to publish, written in that transaction
/// and published by ``OutboxRelay`` after it commits, so the database and the broker never
/// disagree (schemas/sql: `outbox`).
public enum Outbox {
    /// Inserts one message; a message id already in the outbox is left as it is (a handler
    /// that runs again publishes the same ids).
    public static func insert<M: SamparkMessage>(_ message: M, exchange: String, routingKey: String,
                                                 messageID: String, correlationID: String? = nil,
                                                 replyTo: String? = nil, appID: String, mandatory: Bool = true,
                                                 on connection: PostgresConnection) throws {
        let body = try MessageCoding.encode(message)
        try connection.execute("""
            INSERT INTO outbox (exchange, routing_key, message_id, type, app_id, body, correlation_id, reply_to, mandatory)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
            ON CONFLICT (message_id) DO NOTHING
            """, [exchange, routingKey, messageID, M.messageType, appID, Data(body), correlationID, replyTo, mandatory],
            prepared: true)
    }
}
