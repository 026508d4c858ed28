import Foundation
import SamparkCore
import SamparkPostgres
import SamparkRuntime

/// Handles `erasure.request.v1`: a citizen's erasure request from the central team, done as
/// `sampark erase` does it (the database's `sampark_erase`, one transaction with the inbox) and
/// recorded in the processing log with who asked, through whom, and why (docs/security.md).
/// Only the central team's user or a trusted one may ask; a worker without the keyed hash's
/// key refuses, since it could not keep the number off the lists.
public struct ErasureRequestHandler: MessageHandler {
    let phoneHashKey: String?

    public init(phoneHashKey: String?) { self.phoneHashKey = phoneHashKey }

    /// The broker user of the central team (deploy/rabbitmq/definitions.json).
    static let centralTeam = "central-team"

    public func handle(_ request: ErasureRequest, context: HandlerContext) throws {
        guard let sender = context.sender, sender.trusted || sender.user == Self.centralTeam else {
            throw HandlerError.permanent("user_id: only the central team or the operator may ask for an erasure")
        }
        guard let key = phoneHashKey, key.count >= 32 else {
            throw HandlerError.permanent("this ingest-worker has no SAMPARK_PHONE_HASH_KEY (32 characters or more) to keep an erased number off every list")
        }
        // Never quoted back: it is the number.
        guard let number = PhoneNumber.parse(request.phone)?.number else {
            throw HandlerError.permanent("phone: is not an Indian phone number (+91 and 10 digits)")
        }
        let requestedBy = request.requestedBy.trimmingCharacters(in: .whitespacesAndNewlines)
        let reason = request.reason.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !requestedBy.isEmpty, requestedBy.count <= 500 else { throw HandlerError.permanent("requested_by: is empty or longer than 500 characters") }
        guard !reason.isEmpty, reason.count <= 500 else { throw HandlerError.permanent("reason: is empty or longer than 500 characters") }
        let connection = context.connection
        let counts = try connection.query("SELECT sampark_erase($1, $2)::text", [number, key])[0].decode(String.self, at: 0)
        try connection.execute("""
            INSERT INTO processing_log (action, requested_by, purpose, subject, detail)
            VALUES ('erase', $1, $2, 'phone ' || left(encode(hmac($3, $4, 'sha256'), 'hex'), 16), $5::jsonb)
            """, ["\(requestedBy) (via \(sender.user))", reason, number, key, PostgresJSONText(counts)])
    }
}
