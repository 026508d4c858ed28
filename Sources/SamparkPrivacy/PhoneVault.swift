import Crypto
import Foundation
import SamparkPostgres
import Synchronization

/// How Sampark keeps phone numbers at rest: no table holds one in clear.
///
/// Every stored number is three values:
/// - `phone_hash`: HMAC-SHA-256 of the number under the hash key. Matching, dedupe, opt-outs,
///   erasure and the household cap compare these; the same number always gives the same hash,
///   and without the key a hash cannot be checked against a guess (India has only 10^10
///   numbers, so a plain hash would be no protection).
/// - `phone_sealed`: the number under AES-256-GCM (authenticated: a changed byte fails to
///   open), prefixed by one byte naming the key, which is also the associated data. Only the
///   dispatcher opens it, for telephony gateways' offers.
/// - `phone_tail`: the last four digits, what an agent's desk and an escalation show.
///
/// The keys come from the environment (a secret in compose), never from the database or git:
/// `SAMPARK_PHONE_KEYS` is `ID:BASE64,ID:BASE64…`, 32-byte keys with ids 1–255, the first the
/// one new values are sealed with (the others still open what they sealed, until
/// `sampark rotate-phone-key` has re-sealed it all); `SAMPARK_PHONE_HASH_KEY` is the hash's
/// secret, at least 32 characters (its UTF-8 bytes are the HMAC key, as pgcrypto's `hmac()`
/// takes them, so SQL and Swift compute the same hash).
public struct PhoneVault: Sendable {
    public struct Failure: Error, CustomStringConvertible, Sendable {
        public let description: String
        public init(_ description: String) { self.description = description }
    }

    /// The id of the key new values are sealed with.
    public let currentKeyID: UInt8
    private let keys: [UInt8: SymmetricKey]
    private let hashKey: SymmetricKey
    /// HMAC with the hash key already taken in: a copy per number hashes only the number
    /// (keying it anew hashed two more blocks for every number an ingest stores).
    private let keyedHash: HMAC<SHA256>
    /// Where nonces come from: the system's random bytes, read many nonces at a time.
    private let nonces = NonceSource()
    /// The hash key's UTF-8 text, for the SQL that hashes a number given in clear (erasure).
    public let hashKeyText: String

    public static let keysVariable = "SAMPARK_PHONE_KEYS"
    public static let hashKeyVariable = "SAMPARK_PHONE_HASH_KEY"

    /// Reads both keys; errors name the variable and what is wrong, never a key.
    public init(keys text: String, hashKey: String) throws(Failure) {
        var parsed: [UInt8: SymmetricKey] = [:]
        var first: UInt8?
        for (index, item) in text.split(separator: ",", omittingEmptySubsequences: false).enumerated() {
            let parts = item.trimmingCharacters(in: .whitespaces).split(separator: ":", maxSplits: 1)
            guard parts.count == 2, let id = UInt8(parts[0]), id > 0 else {
                throw Failure("\(Self.keysVariable): entry \(index + 1) is not ID:BASE64 with an id from 1 to 255")
            }
            guard let bytes = Data(base64Encoded: String(parts[1])), bytes.count == 32 else {
                throw Failure("\(Self.keysVariable): key \(id) is not 32 bytes in base64 (make one with `openssl rand -base64 32`)")
            }
            guard parsed[id] == nil else { throw Failure("\(Self.keysVariable): key id \(id) appears twice") }
            parsed[id] = SymmetricKey(data: bytes)
            if first == nil { first = id }
        }
        guard let current = first else { throw Failure("\(Self.keysVariable) is empty") }
        guard hashKey.utf8.count >= 32 else {
            throw Failure("\(Self.hashKeyVariable) is not set or shorter than 32 characters")
        }
        currentKeyID = current
        keys = parsed
        self.hashKey = SymmetricKey(data: Array(hashKey.utf8))
        keyedHash = HMAC<SHA256>(key: self.hashKey)
        hashKeyText = hashKey
    }

    /// From `SAMPARK_PHONE_KEYS` and `SAMPARK_PHONE_HASH_KEY`.
    public static func fromEnvironment(_ environment: [String: String] = ProcessInfo.processInfo.environment) throws(Failure) -> PhoneVault {
        guard let keys = environment[keysVariable], !keys.isEmpty else {
            throw Failure("\(keysVariable) is not set: the keys that seal phone numbers at rest (docs/security.md)")
        }
        return try PhoneVault(keys: keys, hashKey: environment[hashKeyVariable] ?? "")
    }

    /// The keyed hash (32 bytes).
    public func hash(_ number: String) -> [UInt8] {
        var mac = keyedHash
        var number = number
        number.withUTF8 { mac.update(data: UnsafeRawBufferPointer($0)) }
        return Array(mac.finalize())
    }

    /// The number sealed under the current key: key id, nonce (12), ciphertext, tag (16).
    public func seal(_ number: String) -> [UInt8] {
        seal(Array(number.utf8), keyID: currentKeyID)
    }

    private func seal(_ plain: [UInt8], keyID: UInt8) -> [UInt8] {
        // Sealing fails only for a nonce or key of the wrong size, which cannot happen here.
        let box = try! AES.GCM.seal(plain, using: keys[keyID]!, nonce: nonces.next(), authenticating: [keyID])
        let combined = box.combined!
        var sealed = [UInt8]()
        sealed.reserveCapacity(1 + combined.count)
        sealed.append(keyID)
        sealed.append(contentsOf: combined)
        return sealed
    }

    /// The bytes a sealed value holds; fails for an unknown key id or a value that was changed.
    public func open(bytes sealed: [UInt8]) throws(Failure) -> [UInt8] {
        guard sealed.count > 29, let key = keys[sealed[0]] else {
            throw Failure(sealed.count > 29
                ? "a value is sealed with phone key \(sealed[0]), which \(Self.keysVariable) does not hold"
                : "a sealed value is too short to be one")
        }
        do {
            let box = try AES.GCM.SealedBox(combined: sealed[1...])
            return Array(try AES.GCM.open(box, using: key, authenticating: [sealed[0]]))
        } catch {
            throw Failure("a value sealed with phone key \(sealed[0]) does not open: the key is not the one it was sealed with, or the value was changed")
        }
    }

    /// The number a sealed value holds.
    public func open(_ sealed: [UInt8]) throws(Failure) -> String {
        String(decoding: try open(bytes: sealed), as: UTF8.self)
    }

    /// The value sealed again under the current key, or nil if it already is.
    public func resealed(_ sealed: [UInt8]) throws(Failure) -> [UInt8]? {
        guard sealed.first != currentKeyID else { return nil }
        return seal(try open(bytes: sealed), keyID: currentKeyID)
    }

    /// The last four digits, which masked numbers show.
    public static func tail(_ number: String) -> String { String(number.suffix(4)) }

    /// A check value for the current key (HMAC of a fixed text): the database keeps it so that
    /// a worker given another key under the same id is refused before it seals anything.
    public var currentKeyCheck: [UInt8] {
        Array(HMAC<SHA256>.authenticationCode(for: Array("sampark phone key check".utf8), using: keys[currentKeyID]!))
    }

    /// Every key's id and check value.
    public var keyChecks: [(id: UInt8, check: [UInt8])] {
        keys.keys.sorted().map { id in
            (id, Array(HMAC<SHA256>.authenticationCode(for: Array("sampark phone key check".utf8), using: keys[id]!)))
        }
    }

    /// Bytes as PostgreSQL's bytea hex form (`\x…`), for COPY text and parameters.
    public static func hex(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out = [UInt8](repeating: 0, count: 2 + bytes.count * 2)
        out[0] = UInt8(ascii: "\\"); out[1] = UInt8(ascii: "x")
        for (i, byte) in bytes.enumerated() {
            out[2 + 2 * i] = digits[Int(byte >> 4)]
            out[3 + 2 * i] = digits[Int(byte & 0x0f)]
        }
        return String(decoding: out, as: UTF8.self)
    }
}

extension PhoneVault {
    /// The hash key's check value, as `sampark_phone_hash_key_matches` computes it in SQL
    /// (`hmac('sampark phone hash key', key, 'sha256')`).
    public var hashKeyCheck: [UInt8] {
        Array(HMAC<SHA256>.authenticationCode(for: Array("sampark phone hash key".utf8), using: hashKey))
    }
}

extension PhoneVault {
    /// Checks this vault's keys against the check values the database recorded (recording
    /// them the first time), so that a worker with another key writes nothing it could not
    /// match or open later. Throws the reason.
    public func claim(on connection: PostgresConnection) throws {
        let checks = keyChecks
        let refusal = try connection.query("SELECT sampark_claim_phone_keys($1, $2::int[], $3)",
                                           [Data(hashKeyCheck), checks.map { Int($0.id) }, checks.map { Data($0.check) }])
        if let reason = try refusal.first?.decode(String?.self, at: 0) { throw Failure(reason) }
    }
}

extension PhoneVault {
    /// A number as it is stored: hash and sealed value in bytea hex form, and the last digits.
    public func stored(_ number: String) -> (hash: String, sealed: String, tail: String) {
        (Self.hex(hash(number)), Self.hex(seal(number)), Self.tail(number))
    }

    /// The bytes of a bytea hex form (`\x…`); ``hex(_:)`` made it, so it is well formed.
    public static func bytes(hex text: String) -> Data {
        var out = Data(capacity: (text.utf8.count - 2) / 2)
        var high: UInt8?
        for byte in text.utf8.dropFirst(2) {
            let nibble = byte <= UInt8(ascii: "9") ? byte - UInt8(ascii: "0") : byte - UInt8(ascii: "a") + 10
            if let h = high { out.append(h << 4 | nibble); high = nil } else { high = nibble }
        }
        return out
    }
}

/// Random 96-bit nonces for AES-GCM, read from the kernel's random source 16 KiB at a time.
/// `AES.GCM.Nonce()` asks the system twice per nonce (a system call each), which showed as a
/// tenth of an ingest-worker's time when it sealed a million numbers. The nonces are as random
/// as before; only where they are read changed. (Random nonces keep one key within NIST's bound
/// of 2^32 seals; a key seals each stored number once, plus what a reload changes, and
/// `sampark rotate-phone-key` starts a new key.)
final class NonceSource: Sendable {
    private struct Buffer {
        var bytes: [UInt8] = []
        var position = 0
    }
    private static let refill = 16 << 10
    private let buffer = Mutex(Buffer())
    private let urandom = FileHandle(forReadingAtPath: "/dev/urandom")

    func next() -> AES.GCM.Nonce {
        buffer.withLock { buffer in
            if buffer.position + 12 > buffer.bytes.count {
                if let bytes = try? urandom?.read(upToCount: Self.refill), bytes.count == Self.refill {
                    buffer.bytes = [UInt8](bytes)
                } else {
                    // No /dev/urandom (or a short read): the system generator, as AES.GCM.Nonce() uses.
                    var generator = SystemRandomNumberGenerator()
                    buffer.bytes = (0..<(Self.refill / 8)).flatMap { _ in withUnsafeBytes(of: generator.next()) { Array($0) } }
                }
                buffer.position = 0
            }
            defer { buffer.position += 12 }
            return try! AES.GCM.Nonce(data: buffer.bytes[buffer.position..<(buffer.position + 12)])
        }
    }
}
