import Foundation
import Testing
import SamparkPostgres
import SamparkTestSupport

/// PostgreSQL over TLS on the test server (`scripts/services.sh` turns `ssl` on with a server
/// certificate for `localhost` signed by a CA it makes): `sslmode=verify-full` connects and the
/// session is encrypted; a server it cannot verify, or a certificate for another name, is
/// refused before any password is sent.
@Suite struct TLSTests {
    func url(host: String = "localhost", rootCertificate: String? = nil) throws -> String {
        let plain = try TestEnvironment.postgresURL()
        let ca = try rootCertificate ?? TestEnvironment.require("SAMPARK_TEST_TLS_CA")
        let hostPart = plain.replacingOccurrences(of: "@127.0.0.1:", with: "@\(host):")
        return hostPart + "?sslmode=verify-full&sslrootcert=" + ca
    }

    @Test func verifyFullConnectsToTheTestServerEncrypted() async throws {
        let pool = PostgresPool(configuration: try PostgresConfiguration(url: try url()), size: 1)
        let row = try await pool.query("SELECT ssl, version FROM pg_stat_ssl WHERE pid = pg_backend_pid()")[0]
        #expect(try row.decode(Bool.self, at: 0), "the session is encrypted")
        #expect(try row.decode(String.self, at: 1).hasPrefix("TLSv1."), "a current protocol")
        await pool.shutdown()
    }

    @Test func verifyFullRefusesACertificateForAnotherName() async throws {
        // The certificate names localhost, not 127.0.0.1.
        let pool = PostgresPool(configuration: try PostgresConfiguration(url: try url(host: "127.0.0.1")), size: 1)
        await #expect(throws: PostgresError.self) { try await pool.query("SELECT 1") }
        await pool.shutdown()
    }

    @Test func verifyFullRefusesAServerSignedByAnotherAuthority() async throws {
        // The system's public CAs, which never signed the test server's certificate.
        let pool = PostgresPool(configuration: try PostgresConfiguration(url: try url(rootCertificate: "/etc/ssl/certs/ca-certificates.crt")), size: 1)
        await #expect(throws: PostgresError.self) { try await pool.query("SELECT 1") }
        await pool.shutdown()
    }
}
