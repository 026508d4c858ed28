import ArgumentParser
import Foundation
import SamparkAMQP
import SamparkCore
import SamparkRuntime

/// `sampark load SOURCE FILE`: reads a CSV file as it streams and publishes its rows in
/// batches to the ingest-worker, under confirms; with `--wait`, prints what the worker
/// accepted and rejected (line, field, reason) as its answers come back.
struct Load: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Load a CSV file (org tree, people, contacts, centres, ...).")

    @Argument(help: "What the file holds: \(IngestSource.allCases.map(\.rawValue).joined(separator: ", ")).")
    var source: String

    @Argument(help: "The CSV file (UTF-8, header row).")
    var file: String

    @Option(help: "Rows per batch.")
    var batchSize = 1000

    @Flag(help: "Wait for the ingest-worker's answers and print them.")
    var wait = false

    @Option(help: "With --wait: give up after this many seconds without an answer.")
    var timeout = 60.0

    @OptionGroup var servers: ServerOptions

    func run() async throws {
        guard let source = IngestSource(rawValue: source) else {
            throw ValidationError("unknown source '\(source)'; one of: \(IngestSource.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        guard let input = FileHandle(forReadingAtPath: file) else { throw ValidationError("cannot read \(file)") }
        let fileName = URL(fileURLWithPath: file).lastPathComponent
        let amqp = try await servers.connect(name: "load")
        defer { Task { await amqp.close() } }

        let loadID = UUID().uuidString.lowercased()
        // The org tree goes one batch at a time, each after the previous one's answer: a
        // unit's parent must be stored before the unit, and the ingest-worker handles batches
        // side by side.
        let oneAtATime = source == .orgUnits
        let (replyQueue, answers) = wait || oneAtATime
            ? try await replyConsumer(on: amqp, named: "sampark.cli.load.\(loadID)") : (nil, nil)
        // A consumer dedupes: an answer may come twice (its relay died after publishing and
        // before marking it), so each batch counts once.
        var answered = Set<Int>(), accepted = 0, rejectedInAnswers = 0
        func collect(until done: @escaping () -> Bool) async throws {
            guard let answers, !done() else { return }
            try await awaitAnswers(from: answers, seconds: timeout, what: "\(fileName)") { delivery in
                try delivery.ack()
                guard delivery.properties.type == IngestCompleted.messageType,
                      let completed = try? MessageCoding.decode(IngestCompleted.self, from: delivery.body),
                      answered.insert(completed.batchNumber).inserted else { return done() }
                accepted += completed.accepted
                rejectedInAnswers += completed.rejected.count
                for rejection in completed.rejected {
                    say("rejected: \(completed.file) line \(rejection.line), \(rejection.field): \(rejection.reason)")
                }
                return done()
            }
        }

        var reader = CSVReader()
        var columns: [String]?
        var pending: [IngestBatch.Row] = []
        var batchNumber = 0
        var rowsSent = 0
        var formatErrors: [String] = []
        func send(isLast: Bool) async throws {
            guard let columns else { return }
            batchNumber += 1
            let batch = IngestBatch(loadID: loadID, source: source, file: fileName, batchNumber: batchNumber,
                                    isLast: isLast, columns: columns, rows: pending)
            try await amqp.publish(outgoing(batch, exchange: Topology.ingestExchange, routingKey: "ingest.batch.\(source.rawValue)",
                                            messageID: "\(loadID)/\(batchNumber)", correlationID: loadID, replyTo: replyQueue))
            rowsSent += pending.count
            pending.removeAll(keepingCapacity: true)
            if batchNumber % 50 == 0 { say("\(fileName): \(rowsSent) rows sent in \(batchNumber) batches") }
            if oneAtATime {
                let sent = batchNumber
                try await collect { answered.contains(sent) }
            }
        }
        func take(_ rows: [CSVReader.Row]) async throws {
            for row in rows {
                guard let header = columns else {
                    columns = row.fields.map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
                    continue
                }
                if row.fields.count != header.count {
                    formatErrors.append("\(fileName) line \(row.line): \(row.fields.count) fields, the header has \(header.count)")
                    continue
                }
                pending.append(IngestBatch.Row(line: row.line, values: row.fields))
                if pending.count >= batchSize { try await send(isLast: false) }
            }
        }
        do {
            while let chunk = try input.read(upToCount: 256 * 1024), !chunk.isEmpty {
                try await take(try reader.feed(chunk))
            }
            try await take(try reader.finish())
        } catch let failure as CSVReader.Failure {
            throw ValidationError("\(fileName) \(failure); nothing after it was sent")
        }
        try await send(isLast: true)
        say("\(fileName): \(rowsSent) rows sent in \(batchNumber) batches (load \(loadID))")
        for error in formatErrors { say("rejected: \(error)") }

        guard columns != nil else { throw ValidationError("\(fileName) is empty: no header row") }
        guard wait, let answers else {
            try await answers?.cancel()
            return
        }
        let total = batchNumber
        try await collect { answered.count == total }
        try await answers.cancel()
        let rejected = formatErrors.count + rejectedInAnswers
        say("\(fileName): \(accepted) rows accepted, \(rejected) rejected")
    }
}
