import Logging
import Testing

@testable import SamparkServer

@Suite struct SettingsTests {
    private func settings(_ environment: [String: String], port: Int = 8081) throws -> WorkerSettings {
        try WorkerSettings(reader: SettingsReader(environment: environment), defaultHTTPPort: port)
    }

    @Test func defaultsWithNoVariables() throws {
        let s = try settings([:], port: 8082)
        #expect(s.amqpURL == "amqp://sampark:sampark@127.0.0.1:55672/%2f")
        #expect(s.postgresURL == "postgres://sampark:sampark@127.0.0.1:55432/sampark")
        #expect(s.httpHost == "127.0.0.1")
        #expect(s.httpPort == 8082)
        #expect(s.prefetch == 50)
        #expect(s.concurrency == 4)
        #expect(s.logLevel == .info)
        #expect(s.shutdownTimeout == .seconds(30))
    }

    @Test func emptyVariablesTakeTheDefaults() throws {
        let s = try settings([
            "SAMPARK_AMQP_URL": "", "SAMPARK_PREFETCH": "", "SAMPARK_LOG_LEVEL": "", "SAMPARK_HTTP_HOST": "",
        ])
        #expect(s == (try settings([:])))
    }

    @Test func readsEveryVariable() throws {
        let s = try settings([
            "SAMPARK_AMQP_URL": "amqps://w:pw@broker.internal:5671/sampark",
            "SAMPARK_POSTGRES_URL": "postgresql://w:pw@db.internal/sampark?sslmode=require",
            "SAMPARK_HTTP_HOST": "0.0.0.0",
            "SAMPARK_HTTP_PORT": "0",
            "SAMPARK_PREFETCH": " 10000 ",
            "SAMPARK_CONCURRENCY": "256",
            "SAMPARK_LOG_LEVEL": "DEBUG",
            "SAMPARK_SHUTDOWN_TIMEOUT": "2.5",
        ])
        #expect(s.amqpURL == "amqps://w:pw@broker.internal:5671/sampark")
        #expect(s.postgresURL == "postgresql://w:pw@db.internal/sampark?sslmode=require")
        #expect(s.httpHost == "0.0.0.0")
        #expect(s.httpPort == 0)
        #expect(s.prefetch == 10000)
        #expect(s.concurrency == 256)
        #expect(s.logLevel == .debug)
        #expect(s.shutdownTimeout == .milliseconds(2500))
        #expect(s.redactedAMQPURL == "amqps://w:***@broker.internal:5671/sampark")
        #expect(s.redactedPostgresURL == "postgresql://w:***@db.internal/sampark?sslmode=require")
        #expect(s.logMetadata["amqp_url"] == .string("amqps://w:***@broker.internal:5671/sampark"))
        #expect(!"\(s.logMetadata)".contains("pw@"))
    }

    /// Every kind of bad value, with the exact message an operator sees.
    @Test(arguments: [
        ("SAMPARK_PREFETCH", "abc", "SAMPARK_PREFETCH=abc is not allowed: a whole number from 1 to 10000"),
        ("SAMPARK_PREFETCH", "0", "SAMPARK_PREFETCH=0 is not allowed: a whole number from 1 to 10000"),
        ("SAMPARK_PREFETCH", "10001", "SAMPARK_PREFETCH=10001 is not allowed: a whole number from 1 to 10000"),
        ("SAMPARK_PREFETCH", "5.5", "SAMPARK_PREFETCH=5.5 is not allowed: a whole number from 1 to 10000"),
        ("SAMPARK_CONCURRENCY", "257", "SAMPARK_CONCURRENCY=257 is not allowed: a whole number from 1 to 256"),
        ("SAMPARK_CONCURRENCY", "-1", "SAMPARK_CONCURRENCY=-1 is not allowed: a whole number from 1 to 256"),
        ("SAMPARK_HTTP_PORT", "65536", "SAMPARK_HTTP_PORT=65536 is not allowed: a whole number from 0 to 65535"),
        ("SAMPARK_HTTP_PORT", "http", "SAMPARK_HTTP_PORT=http is not allowed: a whole number from 0 to 65535"),
        (
            "SAMPARK_LOG_LEVEL", "verbose",
            "SAMPARK_LOG_LEVEL=verbose is not allowed: one of trace, debug, info, notice, warning, error, critical"
        ),
        (
            "SAMPARK_SHUTDOWN_TIMEOUT", "0",
            "SAMPARK_SHUTDOWN_TIMEOUT=0 is not allowed: a number of seconds from 1 to 600"
        ),
        (
            "SAMPARK_SHUTDOWN_TIMEOUT", "601",
            "SAMPARK_SHUTDOWN_TIMEOUT=601 is not allowed: a number of seconds from 1 to 600"
        ),
        (
            "SAMPARK_SHUTDOWN_TIMEOUT", "30s",
            "SAMPARK_SHUTDOWN_TIMEOUT=30s is not allowed: a number of seconds from 1 to 600"
        ),
        (
            "SAMPARK_SHUTDOWN_TIMEOUT", "nan",
            "SAMPARK_SHUTDOWN_TIMEOUT=nan is not allowed: a number of seconds from 1 to 600"
        ),
        (
            "SAMPARK_AMQP_URL", "http://sampark:s3cret@broker:5672/",
            "SAMPARK_AMQP_URL=http://sampark:***@broker:5672/ is not allowed: a URL with scheme amqp or amqps and a host such as amqp://user:password@host:port/..."
        ),
        (
            "SAMPARK_AMQP_URL", "amqp://sampark:s3cret@/vhost",
            "SAMPARK_AMQP_URL=amqp://sampark:***@/vhost is not allowed: a URL with scheme amqp or amqps and a host such as amqp://user:password@host:port/..."
        ),
        (
            "SAMPARK_POSTGRES_URL", "mysql://app:s3cret@db/sampark",
            "SAMPARK_POSTGRES_URL=mysql://app:***@db/sampark is not allowed: a URL with scheme postgres or postgresql and a host such as postgres://user:password@host:port/..."
        ),
        (
            // Not even a URL (a space, an unencoded '@' and '/' in the password): still masked.
            "SAMPARK_POSTGRES_URL", "postgres://app:s3c ret@/x@db/sampark",
            "SAMPARK_POSTGRES_URL=postgres://app:***@db/sampark is not allowed: a URL with scheme postgres or postgresql and a host such as postgres://user:password@host:port/..."
        ),
    ])
    func badValueNamesTheVariable(variable: String, value: String, message: String) throws {
        let error = #expect(throws: SettingsError.self) { try settings([variable: value]) }
        #expect(error?.variable == variable)
        #expect(error?.description == message)
        #expect(error?.description.contains("s3c") == false)
    }

    @Test func onlyTheBadVariableIsNamed() throws {
        let error = #expect(throws: SettingsError.self) {
            try settings(["SAMPARK_PREFETCH": "20", "SAMPARK_CONCURRENCY": "many", "SAMPARK_HTTP_PORT": "9000"])
        }
        #expect(error?.variable == "SAMPARK_CONCURRENCY")
    }

    @Test func passwordVariablesAreNeverShown() {
        let error = SettingsError(variable: "SAMPARK_SMS_PASSWORD", value: "hunter2", allowed: "at least 12 characters")
        #expect(error.description == "SAMPARK_SMS_PASSWORD=*** is not allowed: at least 12 characters")
    }

    @Test(arguments: [
        ("amqp://user:secret@host/", "amqp://user:***@host/"),
        ("amqp://user@host/", "amqp://user@host/"),
        ("amqp://host:5672/", "amqp://host:5672/"),
        ("postgres://host/db?user=a&password=secret&sslmode=require", "postgres://host/db?user=a&password=***&sslmode=require"),
        ("postgres://u:p%40ss@host/db?sslpassword=secret", "postgres://u:***@host/db?sslpassword=***"),
        ("user:secret@host", "user:***@host"),
    ])
    func urlSecretsAreMasked(value: String, shown: String) {
        #expect(Redaction.maskSecrets(variable: "SAMPARK_X_URL", value: value) == shown)
    }

    @Test func controlCharactersInValuesAreEscaped() {
        let error = SettingsError(variable: "SAMPARK_PREFETCH", value: "5\nSAMPARK_FAKE=1", allowed: "a number")
        #expect(error.description == #"SAMPARK_PREFETCH=5\nSAMPARK_FAKE=1 is not allowed: a number"#)
    }

    enum Mode: String, CaseIterable { case fast, careful }

    @Test func readerAccessorsForAWorkersOwnVariables() throws {
        let reader = SettingsReader(environment: [
            "SAMPARK_MODE": "Careful", "SAMPARK_DRY_RUN": "yes", "SAMPARK_BATCH": "250", "SAMPARK_NAME": " as is ",
            "SAMPARK_POLL": "0.5",
        ])
        #expect(try reader.choice("SAMPARK_MODE", default: Mode.fast) == .careful)
        #expect(try reader.choice("SAMPARK_OTHER_MODE", default: Mode.fast) == .fast)
        #expect(try reader.boolean("SAMPARK_DRY_RUN", default: false))
        #expect(try reader.integer("SAMPARK_BATCH", default: 1, in: 1...1000) == 250)
        #expect(reader.string("SAMPARK_NAME", default: "x") == " as is ")
        #expect(try reader.seconds("SAMPARK_POLL", default: .seconds(5), in: 0.1...60) == .milliseconds(500))

        let bad = SettingsReader(environment: ["SAMPARK_MODE": "quick", "SAMPARK_DRY_RUN": "maybe"])
        let modeError = #expect(throws: SettingsError.self) { try bad.choice("SAMPARK_MODE", default: Mode.fast) }
        #expect(modeError?.description == "SAMPARK_MODE=quick is not allowed: one of fast, careful")
        let boolError = #expect(throws: SettingsError.self) { try bad.boolean("SAMPARK_DRY_RUN", default: false) }
        #expect(boolError?.description == "SAMPARK_DRY_RUN=maybe is not allowed: true or false")
    }
}
