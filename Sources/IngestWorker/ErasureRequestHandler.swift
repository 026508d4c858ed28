import Foundation
import SamparkCore
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
        // The number is never quoted back. The key, who asked and why are checked where the
        // erasure is done (sampark_erase), for this request and `sampark erase` alike.
        guard let number = PhoneNumber.parse(request.phone)?.number else {
            throw HandlerError.permanent("phone: is not an Indian phone number (+91 and 10 digits)")
        }
        guard let key = phoneHashKey else {
            throw HandlerError.permanent("this ingest-worker has no SAMPARK_PHONE_HASH_KEY to keep an erased number off every list")
        }
        let asker = request.requestedBy.trimmingCharacters(in: .whitespacesAndNewlines)
        _ = try context.connection.query("SELECT sampark_erase($1, $2, $3, $4)",
                                         [number, key, asker.isEmpty ? "" : "\(asker) (via \(sender.user))", request.reason])
    }
}
