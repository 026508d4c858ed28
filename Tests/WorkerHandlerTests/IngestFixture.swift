import Foundation
import Testing
import IngestWorker
import SamparkCore
import SamparkPostgres
@testable import SamparkRuntime
import SamparkSchema
import SamparkTestSupport

/// A freshly migrated database of its own, dropped afterwards.
struct FreshDatabase {
    let pool: PostgresPool

    static func with(_ prefix: String, _ body: (FreshDatabase) async throws -> Void) async throws {
        try await TestDatabase.with(prefix) { configuration in
            let database = FreshDatabase(pool: PostgresPool(configuration: configuration, size: 2))
            do {
                try await Migrator(pool: database.pool).migrate()
                // As an ingest-worker does when it starts: the test keys become the database's.
                try await database.pool.withConnection { try TestPhones.vault.claim(on: $0) }
                try await body(database)
            } catch {
                Issue.record(error)
            }
            await database.pool.shutdown()
        }
    }

    static let `operator` = Sender(user: "operator", trusted: true)

    /// Runs `handler` on `message` in one transaction, as the runner does (without the broker).
    /// `sender` defaults to a trusted one (the operator's, as desk-sim in development).
    func handle<H: MessageHandler>(_ handler: H, _ message: H.Message, messageID: String = UUID().uuidString,
                                   replyTo: String? = nil, sender: Sender? = Self.operator) async throws {
        try await pool.transaction { connection in
            let context = HandlerContext(connection: connection, messageID: messageID, messageType: H.Message.messageType,
                                         correlationID: nil, replyTo: replyTo, queue: "test", appID: "test", sender: sender)
            try handler.handle(message, context: context)
        }
    }

    /// Runs a batch handler on `messages` in one transaction, as the runner does for a batch
    /// whose ids are all new.
    func handle<H: BatchMessageHandler>(batch handler: H, _ messages: [(H.Message, String)],
                                        sender: Sender? = Self.operator) async throws {
        try await pool.transaction { connection in
            let context = HandlerContext(connection: connection, messageID: messages.first?.1 ?? "batch", messageType: H.Message.messageType,
                                         correlationID: nil, replyTo: nil, queue: "test", appID: "test")
            try handler.handle(messages.map { Incoming(message: $0.0, messageID: $0.1, sender: sender) }, context: context)
        }
    }

    /// Loads `csv` as `sampark load` does (the same ``IngestBatcher``, batches applied in
    /// order) and returns the load's report.
    @discardableResult
    func load(_ source: IngestSource, _ csv: String, batchSize: Int = 1000) async throws -> IngestCompleted {
        try await load(source, bytes: Array(csv.utf8), batchSize: batchSize)
    }

    @discardableResult
    func load(_ source: IngestSource, bytes: [UInt8], batchSize: Int = 5000, file: String? = nil) async throws -> IngestCompleted {
        var batcher = IngestBatcher(source: source, batchSize: batchSize)
        let batches = try batcher.feed(bytes) + batcher.finish()
        let loadID = UUID().uuidString
        for (index, lines) in batches.enumerated() {
            let batch = IngestBatch(loadID: loadID, source: source, file: file ?? "\(source.rawValue).csv", batchNumber: index + 1,
                                    isLast: index == batches.count - 1, columns: try #require(batcher.header),
                                    rows: lines.rows, rejected: lines.rejected)
            try await handle(IngestBatchHandler(vault: TestPhones.vault), batch, messageID: "\(loadID)/\(index + 1)", replyTo: "reply")
        }
        return try await report(loadID)
    }

    /// Every rejected line of a load, as "line field".
    func rejects(_ loadID: String) async throws -> [String] {
        try await pool.query("SELECT line || ' ' || field FROM ingest_rejects WHERE load_id = $1 ORDER BY line", [loadID])
            .map { try $0.decode(String.self, at: 0) }
    }

    /// The report the load's last batch put in the outbox.
    func report(_ loadID: String) async throws -> IngestCompleted {
        let body = try await pool.query("SELECT body FROM outbox WHERE message_id = $1", ["\(loadID)/completed"])
        let data = try #require(body.first).decode(Data.self, at: 0)
        return try MessageCoding.decode(IngestCompleted.self, from: Array(data))
    }

    func strings(_ sql: String) async throws -> [String] {
        try await pool.query(sql).map { try $0.decode(String.self, at: 0) }
    }

    func count(_ sql: String) async throws -> Int {
        try await pool.query(sql)[0].decode(Int.self, at: 0)
    }

    static let tree = """
        level,code,name,parent_code
        state,CG,Chhattisgarh,
        district,DRG,Durg,CG
        ac,AC-62,Durg Gramin,DRG
        booth,B-1,Booth 1,AC-62
        booth,B-2,Booth 2,AC-62
        state,MP,Madhya Pradesh,
        ac,AC-62-MP,Another AC 62,MP
        booth,MP-B-1,MP booth 1,AC-62-MP

        """
}

extension IngestCounts {
    /// The counts as one readable string, for compact expectations.
    var summary: String { "read \(read): +\(inserted) ~\(updated) =\(unchanged) x\(rejected)" }
}
