import Foundation
import SamparkPostgres

/// A PostgreSQL database of a test's own on the private server, so tests that run at once
/// never share a row: `create` it, `drop` it afterwards, or let `with` do both.
public enum TestDatabase {
    /// Creates an empty database named after `prefix` and returns how to reach it.
    public static func create(_ prefix: String) async throws -> PostgresConfiguration {
        let url = try TestEnvironment.postgresURL()
        let name = TestEnvironment.uniqueName(prefix)
        let admin = PostgresPool(configuration: try PostgresConfiguration(url: url), size: 1)
        do {
            try await admin.execute("CREATE DATABASE \(name)")
            await admin.shutdown()
        } catch {
            await admin.shutdown()
            throw error
        }
        var configuration = try PostgresConfiguration(url: url)
        configuration.database = name
        return configuration
    }

    /// Drops the database (closing what is still connected to it); failures are ignored.
    public static func drop(_ configuration: PostgresConfiguration) async {
        guard let name = configuration.database, let url = try? TestEnvironment.postgresURL(),
              let adminConfiguration = try? PostgresConfiguration(url: url) else { return }
        let admin = PostgresPool(configuration: adminConfiguration, size: 1)
        _ = try? await admin.execute("DROP DATABASE IF EXISTS \(name) WITH (FORCE)")
        await admin.shutdown()
    }

    /// Runs `body` on a fresh database and drops it afterwards, whether `body` throws or not.
    public static func with<T: Sendable>(_ prefix: String, _ body: (PostgresConfiguration) async throws -> T) async throws -> T {
        let configuration = try await create(prefix)
        do {
            let value = try await body(configuration)
            await drop(configuration)
            return value
        } catch {
            await drop(configuration)
            throw error
        }
    }
}
