import Foundation
import Testing
import SamparkTestSupport

/// The sealing and hashing of phone numbers, as pure functions (their use with the database is
/// in the ingest, dispatch, migration and rotation tests).
@Suite struct PhoneVaultTests {
    static let keyOne = Data(repeating: 1, count: 32).base64EncodedString()
    static let keyTwo = Data(repeating: 2, count: 32).base64EncodedString()
    static let hashKey = "a-hash-key-of-at-least-thirty-two-characters"

    @Test func aSealedNumberOpensOnlyWithItsKeyAndAnyChangedByteFails() throws {
        let vault = try PhoneVault(keys: "1:\(Self.keyOne)", hashKey: Self.hashKey)
        let sealed = vault.seal("+919800000001")
        #expect(sealed.count == 42, "key id, nonce 12, 13 bytes, tag 16")
        #expect(sealed[0] == 1)
        #expect(try vault.open(sealed) == "+919800000001")
        #expect(vault.seal("+919800000001") != sealed, "a fresh nonce each time: equal numbers do not look equal")
        for index in [0, 1, 13, 20, 41] {
            var changed = sealed
            changed[index] ^= 0x01
            #expect(throws: PhoneVault.Failure.self) { try vault.open(changed) }
        }
        let other = try PhoneVault(keys: "1:\(Self.keyTwo)", hashKey: Self.hashKey)
        #expect(throws: PhoneVault.Failure.self) { try other.open(sealed) }
    }

    @Test func theFirstKeySealsAndTheOthersStillOpenUntilReSealed() throws {
        let old = try PhoneVault(keys: "1:\(Self.keyOne)", hashKey: Self.hashKey)
        let both = try PhoneVault(keys: "2:\(Self.keyTwo),1:\(Self.keyOne)", hashKey: Self.hashKey)
        let sealedOld = old.seal("+919800000002")
        #expect(try both.open(sealedOld) == "+919800000002")
        let resealed = try #require(try both.resealed(sealedOld))
        #expect(resealed[0] == 2)
        #expect(try both.open(resealed) == "+919800000002")
        #expect(try both.resealed(resealed) == nil, "already under the current key")
        let onlyNew = try PhoneVault(keys: "2:\(Self.keyTwo)", hashKey: Self.hashKey)
        #expect(try onlyNew.open(resealed) == "+919800000002")
        let refused = #expect(throws: PhoneVault.Failure.self) { try onlyNew.open(sealedOld) }
        #expect(refused?.description == "a value is sealed with phone key 1, which SAMPARK_PHONE_KEYS does not hold")
    }

    @Test func theHashIsKeyedAndStable() throws {
        let vault = try PhoneVault(keys: "1:\(Self.keyOne)", hashKey: Self.hashKey)
        let other = try PhoneVault(keys: "1:\(Self.keyOne)", hashKey: Self.hashKey + "x")
        #expect(vault.hash("+919800000001") == vault.hash("+919800000001"))
        #expect(vault.hash("+919800000001") != vault.hash("+919800000002"))
        #expect(vault.hash("+919800000001") != other.hash("+919800000001"), "another key, another hash")
        #expect(vault.hash("+919800000001").count == 32)
        let stored = vault.stored("+919800000001")
        #expect(stored.tail == "0001")
        #expect([UInt8](PhoneVault.bytes(hex: stored.hash)) == vault.hash("+919800000001"))
        // The standard HMAC-SHA-256, as pgcrypto's hmac() computes it (the vault keys its HMAC
        // once and copies it per number): `openssl dgst -sha256 -hmac KEY` of the number.
        #expect(PhoneVault.hex(vault.hash("+919800000001")) == "\\x42ea4b5b3c29dcd0c9aaa78ac8f11b9e1e94ee19c6d9d9696d1aabc6760678a5")
    }

    /// Nonces come from the system's random bytes, read 16 KiB (1,365 nonces) at a time: across
    /// several refills, from several threads, no two seals share one and each opens.
    @Test func everySealHasANonceOfItsOwn() async throws {
        let vault = try PhoneVault(keys: "1:\(Self.keyOne)", hashKey: Self.hashKey)
        let sealed = await withTaskGroup(of: [[UInt8]].self) { group in
            for _ in 0..<4 { group.addTask { (0..<1_500).map { _ in vault.seal("+919800000001") } } }
            return await group.reduce(into: []) { $0 += $1 }
        }
        #expect(Set(sealed.map { Array($0[1...12]) }).count == 6_000)
        #expect(try sealed.allSatisfy { try vault.open($0) == "+919800000001" })
    }

    @Test(arguments: [
        ("", "x", "SAMPARK_PHONE_KEYS: entry 1 is not ID:BASE64 with an id from 1 to 255"),
        ("0:\(keyOne)", hashKey, "SAMPARK_PHONE_KEYS: entry 1 is not ID:BASE64 with an id from 1 to 255"),
        ("1:c2hvcnQ=", hashKey, "SAMPARK_PHONE_KEYS: key 1 is not 32 bytes in base64 (make one with `openssl rand -base64 32`)"),
        ("1:\(keyOne),1:\(keyTwo)", hashKey, "SAMPARK_PHONE_KEYS: key id 1 appears twice"),
        ("1:\(keyOne)", "short", "SAMPARK_PHONE_HASH_KEY is not set or shorter than 32 characters"),
    ])
    func badKeysAreRefusedByNameWithoutQuotingThem(keys: String, hashKey: String, reason: String) {
        let error = #expect(throws: PhoneVault.Failure.self) { try PhoneVault(keys: keys, hashKey: hashKey) }
        #expect(error?.description == reason)
        #expect(error?.description.contains(Self.keyOne) == false && error?.description.contains(Self.keyTwo) == false)
    }
}
