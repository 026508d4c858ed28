import Testing
@testable import SamparkPostgres

@Suite struct ConfigurationTests {
    @Test func fullURL() throws {
        let configuration = try PostgresConfiguration(url: "postgres://sampark:s3cret@db.example:6543/campaign?sslmode=require&target_session_attrs=read-write")
        #expect(configuration.user == "sampark")
        #expect(configuration.password == "s3cret")
        #expect(configuration.host == "db.example")
        #expect(configuration.port == 6543)
        #expect(configuration.database == "campaign")
        #expect(configuration.parameters == ["sslmode": "require", "target_session_attrs": "read-write"])
    }

    @Test func percentDecoding() throws {
        let configuration = try PostgresConfiguration(url: "postgresql://us%40er:p%3Aa%2Fss%40w%25rd@localhost/my%20db?application_name=ingest%20worker")
        #expect(configuration.user == "us@er")
        #expect(configuration.password == "p:a/ss@w%rd")
        #expect(configuration.database == "my db")
        #expect(configuration.applicationName == "ingest worker")
        #expect(configuration.port == nil)
    }

    @Test func passwordWithPlusAndAtSigns() throws {
        let configuration = try PostgresConfiguration(url: "postgres://u:a+b@c@h/d")
        #expect(configuration.password == "a+b@c")
        #expect(configuration.host == "h")
    }

    @Test func ipv6AndSocketDirectory() throws {
        let ipv6 = try PostgresConfiguration(url: "postgres://u@[::1]:5433/d")
        #expect(ipv6.host == "::1")
        #expect(ipv6.port == 5433)
        let socket = try PostgresConfiguration(url: "postgres://%2Fvar%2Frun%2Fpostgresql/d")
        #expect(socket.host == "/var/run/postgresql")
        #expect(socket.user == nil)
    }

    @Test func missingPartsAreLeftToTheEnvironment() throws {
        let configuration = try PostgresConfiguration(url: "postgres://")
        #expect(configuration.host == nil && configuration.user == nil && configuration.database == nil && configuration.port == nil)
        let keywords = Dictionary(configuration.libpqKeywords, uniquingKeysWith: { _, last in last })
        #expect(keywords["host"] == nil)
        #expect(keywords["user"] == nil)
        #expect(keywords["dbname"] == nil)
        #expect(keywords["fallback_application_name"] == "sampark")
        #expect(keywords["keepalives"] == "1")
        #expect(keywords["connect_timeout"] == "10")
        #expect(keywords["client_encoding"] == "UTF8")
        #expect(keywords["options"] == "-c DateStyle=ISO")
    }

    @Test func callerOptionsAreKeptAfterTheDateStyle() throws {
        let configuration = try PostgresConfiguration(url: "postgres://h/d?options=-c%20statement_timeout%3D5000")
        let options = configuration.libpqKeywords.filter { $0.0 == "options" }.map(\.1)
        #expect(options == ["-c DateStyle=ISO -c statement_timeout=5000"])
    }

    /// The server checks the client is still there during long statements, and PostgreSQL
    /// takes the setting (a live connection reports it).
    @Test func aConnectionCheckIntervalReachesTheServer() async throws {
        var configuration = try testConfiguration()
        configuration.connectionCheckInterval = 1
        let options = configuration.libpqKeywords.filter { $0.0 == "options" }.map(\.1)
        #expect(options == ["-c DateStyle=ISO -c client_connection_check_interval=1s"])
        let pool = PostgresPool(configuration: configuration, size: 1)
        let shown = try await pool.query("SHOW client_connection_check_interval")[0].decode(String.self, at: 0)
        await pool.shutdown()
        #expect(shown == "1s")
    }

    @Test func queryParametersBecomeKeywords() throws {
        let configuration = try PostgresConfiguration(url: "postgres://h/d?sslmode=verify-full&sslrootcert=%2Fetc%2Fca.pem&connect_timeout=3&port=7000")
        let keywords = Dictionary(configuration.libpqKeywords, uniquingKeysWith: { _, last in last })
        #expect(keywords["sslmode"] == "verify-full")
        #expect(keywords["sslrootcert"] == "/etc/ca.pem")
        #expect(keywords["connect_timeout"] == "3")
        #expect(keywords["port"] == "7000")
    }

    @Test(arguments: ["mysql://h/d", "postgres://h:notaport/d", "postgres://h:70000/d", "postgres://u:p%zz@h/d", "postgres://[::1/d", "postgres://a,b/d"])
    func invalidURLs(_ url: String) throws {
        let error = try #require(throws: PostgresError.self) { try PostgresConfiguration(url: url) }
        #expect(error.kind == .usage)
        #expect(!error.description.contains("p%zz"))
    }

    @Test func descriptionMasksThePassword() throws {
        var configuration = try PostgresConfiguration(url: "postgres://sampark:TopSecret99@h:5432/d?sslpassword=KeyPass")
        configuration.applicationName = "x"
        let text = configuration.description
        #expect(!text.contains("TopSecret99"))
        #expect(!text.contains("KeyPass"))
        #expect(text.contains("user=sampark"))
        #expect(text.contains("password=********"))
        #expect("\(configuration)" == text)
    }
}
