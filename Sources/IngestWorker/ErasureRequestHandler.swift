import Foundation
import SamparkCore
import SamparkPrivacy
import SamparkRuntime

/// Handles `erasure.request.v1`: a citizen's erasure request from the central team, done as
/// `sampark erase` does it (the database's `sampark_erase`, one transaction with the inbox) and
/// recorded in the processing log with who asked, through whom, and why (docs/security.md).
/// Only the central team's user or a trusted one may ask. The number is found by its keyed
/// hash, with the hash key the worker started with.
public struct ErasureRequestHandler: MessageHandler {
    let vault: PhoneVault

    public init(vault: PhoneVault) { self.vault = vault }

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
        let asker = request.requestedBy.trimmingCharacters(in: .whitespacesAndNewlines)
        _ = try context.connection.query("SELECT sampark_erase($1, $2, $3, $4)",
                                         [number, vault.hashKeyText, asker.isEmpty ? "" : "\(asker) (via \(sender.user))", request.reason])
    }
}
