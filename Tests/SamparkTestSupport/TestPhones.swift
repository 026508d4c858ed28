import Foundation
@_exported import SamparkPrivacy

/// The phone keys every test uses (and gives the workers it starts): fixed, so that SQL seeds
/// and the workers agree. Not secrets: test data only.
public enum TestPhones {
    public static let keys = "1:" + Data((0..<32).map { UInt8($0) }).base64EncodedString()
    public static let hashKey = "sampark-test-phone-hash-key-0123456789abcdef"
    public static let vault = try! PhoneVault(keys: keys, hashKey: hashKey)

    /// The environment a worker process needs for them.
    public static let environment = [PhoneVault.keysVariable: keys, PhoneVault.hashKeyVariable: hashKey]

    /// SQL literals for the stored columns `phone_hash, phone_sealed, phone_tail` of a number,
    /// as the ingest-worker writes them, for seeds written in SQL.
    public static func sql(_ number: String) -> String {
        let stored = vault.stored(number)
        return "'\(stored.hash)'::bytea, '\(stored.sealed)'::bytea, '\(stored.tail)'"
    }

    /// The keyed hash of a number as an SQL bytea literal (to find its rows).
    public static func hash(_ number: String) -> String { "'\(PhoneVault.hex(vault.hash(number)))'::bytea" }
}

extension TestPhones {
    /// SQL for `phone_hash, phone_sealed, phone_tail` of the number an SQL text expression
    /// gives, for seeds of thousands of rows: the keyed hash as the workers compute it
    /// (pgcrypto's HMAC is the same function), and a stand-in sealed value of the real size
    /// that no one opens (for numbers only agents' desks are offered, masked). Seeds whose
    /// numbers a gateway is offered use `sql(_:)`, sealed for real.
    public static func columns(_ number: String) -> String {
        "hmac(\(number), '\(hashKey)', 'sha256'), '\\x01'::bytea || gen_random_bytes(41), right(\(number), 4)"
    }
}
