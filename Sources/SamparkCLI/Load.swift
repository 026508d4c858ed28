import ArgumentParser
import Foundation
import SamparkAMQP
import SamparkCore
import SamparkRuntime
import Synchronization

/// `sampark load SOURCE FILE`: streams a CSV file onto the ingest queue in batches under
/// confirms, shows progress, and prints the load's report once the ingest-workers have applied
/// every batch (docs/ingest.md). Memory stays flat: the file is read in 256 KiB chunks and
/// at most a few batches are held.
struct Load: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Load a CSV file: \(IngestSource.allCases.map(\.rawValue).joined(separator: ", ")).",
        discussion: "Exit status 0 when every row was accepted or rejected with its reason (see the report), 1 when the load could not complete.")

    @Argument(help: "What the file holds: \(IngestSource.allCases.map(\.rawValue).joined(separator: ", ")).")
    var source: String

    @Argument(help: "The CSV file (UTF-8, header row).")
    var file: String

    @Option(help: "Rows per batch (one transaction each).")
    var batchSize = 5000

    @Flag(help: "Send the file and exit without waiting for the report (it is still stored in ingest_loads).")
    var noWait = false

    @Option(help: "Give up when no answer comes from the ingest-workers for this many seconds.")
    var timeout = 120.0

    @OptionGroup var servers: ServerOptions

    func run() async throws {
        guard let source = IngestSource(rawValue: source) else {
            throw ValidationError("unknown source '\(source)'; one of: \(IngestSource.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        guard batchSize > 0 else { throw ValidationError("--batch-size must be at least 1") }
        guard let input = FileHandle(forReadingAtPath: file) else { throw ValidationError("cannot read \(file)") }
        let fileName = URL(fileURLWithPath: file).lastPathComponent
        let fileBytes = (try? FileManager.default.attributesOfItem(atPath: file)[.size] as? Int) ?? nil
        try await servers.withConnection(name: "load") { amqp in
            try await load(source, from: input, named: fileName, bytes: fileBytes, on: amqp)
        }
    }

    private func load(_ source: IngestSource, from input: FileHandle, named fileName: String, bytes fileBytes: Int?,
                      on amqp: AMQPConnection) async throws {
        let loadID = UUID().uuidString.lowercased()
        // The org tree goes one batch at a time, each after the previous one is applied: a
        // unit's parent must be stored before the unit, and ingest-workers apply batches side
        // by side.
        let oneAtATime = source == .orgUnits
        let answers = noWait && !oneAtATime ? nil : try await AnswerReader(amqp: amqp, queue: "sampark.cli.load.\(loadID)")
        let progress = Progress(fileName: fileName, fileBytes: fileBytes)

        var batcher = IngestBatcher(source: source, batchSize: batchSize)
        var batchNumber = 0
        func send(_ lines: IngestBatcher.Batch, isLast: Bool) async throws {
            guard let header = batcher.header else { return }
            batchNumber += 1
            let batch = IngestBatch(loadID: loadID, source: source, file: fileName, batchNumber: batchNumber,
                                    isLast: isLast, columns: header, rows: lines.rows, rejected: lines.rejected)
            try await amqp.publish(outgoing(batch, exchange: Topology.ingestExchange, routingKey: "ingest.batch.\(source.rawValue)",
                                            messageID: "\(loadID)/\(batchNumber)", correlationID: loadID, replyTo: answers?.queue))
            progress.sent(rows: lines.lines)
            if oneAtATime, let answers {
                let sent = batchNumber
                try await answers.wait(seconds: timeout, for: "batch \(sent) of \(fileName)") { $0.applied.contains(sent) ? true : nil }
            }
        }
        do {
            while let chunk = try input.read(upToCount: 256 * 1024), !chunk.isEmpty {
                progress.read(bytes: chunk.count)
                for batch in try batcher.feed(chunk) { try await send(batch, isLast: false) }
            }
            let last = try batcher.finish()
            for (index, batch) in last.enumerated() { try await send(batch, isLast: index == last.count - 1) }
        } catch let error as IngestBatcher.FileError {
            await answers?.close()
            throw CommandFailure("\(fileName) \(error); nothing \(batchNumber == 0 ? "was" : "more was") sent")
        }
        progress.finishSending(batches: batchNumber, loadID: loadID)

        if let answers, !noWait {
            let report = try await answers.wait(seconds: timeout, for: "the report on \(fileName)", progress: progress) { $0.report }
            progress.close()
            print(report: report)
        } else {
            say("not waiting: the report will be in ingest_loads (load \(loadID))")
        }
        await answers?.close()
        if let stoppedAt = batcher.stoppedAt {
            throw CommandFailure("\(fileName) \(stoppedAt): the rest of the file was not read")
        }
    }

    private func print(report: IngestCompleted) {
        let c = report.counts
        say("""
            \(report.file): \(c.read) rows read: \(c.inserted) inserted, \(c.updated) updated, \(c.unchanged) unchanged, \(c.rejected) rejected \
            (\(report.batches) batches, load \(report.loadID))
            """)
        if !report.rejectedByReason.isEmpty {
            say("rejected by reason:")
            for reason in report.rejectedByReason { say("  \(reason.count)\t\(reason.field): \(reason.reason)") }
            say("first rejected rows:")
            for reject in report.firstRejects { say("  line \(reject.line)\t\(reject.field): \(reject.reason)") }
            if c.rejected > report.firstRejects.count {
                say("  ... all \(c.rejected) are in ingest_rejects (load_id '\(report.loadID)')")
            }
        }
    }
}

/// The load's reply queue, read in the background while the file is sent: batches applied
/// (progress, and the org tree's one-at-a-time pacing) and, last, the report.
final class AnswerReader: Sendable {
    struct State: Sendable {
        var applied = Set<Int>()
        var appliedRows = 0
        var report: IngestCompleted?
        var lastAnswer = ContinuousClock.now
        var failure: String?
    }

    let queue: String
    private let consumer: AMQPConsumer
    private let state = Mutex(State())
    private let task: Mutex<Task<Void, Never>?> = Mutex(nil)

    init(amqp: AMQPConnection, queue: String) async throws {
        let (name, consumer) = try await replyConsumer(on: amqp, named: queue)
        self.queue = name ?? queue
        self.consumer = consumer!
        let reader = Task { [self] in
            do {
                for try await delivery in self.consumer {
                    try? delivery.ack()
                    // An answer may come twice (its relay died after publishing and before
                    // marking it): batches count once, by number.
                    self.state.withLock { state in
                        state.lastAnswer = .now
                        if delivery.properties.type == IngestBatchApplied.messageType,
                           let applied = try? MessageCoding.decode(IngestBatchApplied.self, from: delivery.body),
                           state.applied.insert(applied.batchNumber).inserted {
                            state.appliedRows += applied.counts.read
                        } else if delivery.properties.type == IngestCompleted.messageType,
                                  let report = try? MessageCoding.decode(IngestCompleted.self, from: delivery.body) {
                            state.report = report
                        }
                    }
                }
            } catch {
                self.state.withLock { $0.failure = "the reply queue failed: \(error)" }
            }
        }
        task.withLock { $0 = reader }
    }

    /// Waits until `value` gives a result; throws if no answer comes for `seconds`.
    @discardableResult
    func wait<T>(seconds: Double, for what: String, progress: Progress? = nil, _ value: (State) -> T?) async throws -> T {
        while true {
            let (result, snapshot) = state.withLock { (value($0), $0) }
            if let result { return result }
            if let failure = snapshot.failure { throw CommandFailure(failure) }
            progress?.applied(rows: snapshot.appliedRows, batches: snapshot.applied.count)
            if ContinuousClock.now - snapshot.lastAnswer > .milliseconds(Int(seconds * 1000)) {
                throw CommandFailure("""
                    no answer about \(what) for \(Int(seconds)) s: is an ingest-worker running? \
                    (a batch it could not take is in ingest-worker.batches.dead)
                    """)
            }
            try await Task.sleep(for: .milliseconds(50))
        }
    }

    func close() async {
        try? await consumer.cancel()
        task.withLock { $0?.cancel() }
    }
}

/// Progress on a terminal: rows sent, rows/s, share of the file and time left, redrawn in
/// place; one line every few seconds when the output is not a terminal (a log).
final class Progress: Sendable {
    private struct State {
        var bytesRead = 0
        var rowsSent = 0
        var lastDrawn = ContinuousClock.now - .seconds(60)
        var batches = 0
        var lineOpen = false
    }

    private let fileName: String
    private let fileBytes: Int?
    private let started = ContinuousClock.now
    private let isTerminal = isatty(STDOUT_FILENO) == 1
    private let state = Mutex(State())

    init(fileName: String, fileBytes: Int?) {
        self.fileName = fileName
        self.fileBytes = fileBytes
    }

    func read(bytes: Int) { state.withLock { $0.bytesRead += bytes } }

    func sent(rows: Int) {
        let line: String? = state.withLock { state in
            state.rowsSent += rows
            guard due(&state) else { return nil }
            let seconds = max(0.001, (ContinuousClock.now - started).seconds)
            let rate = Double(state.rowsSent) / seconds
            var text = "\(fileName): \(state.rowsSent) rows sent, \(Int(rate)) rows/s"
            if let fileBytes, fileBytes > 0 {
                let share = min(1, Double(state.bytesRead) / Double(fileBytes))
                let left = share > 0 ? seconds * (1 - share) / share : 0
                text += String(format: ", %.0f%% of the file, ETA ", share * 100) + Self.clock(left)
            }
            return text
        }
        if let line { draw(line) }
    }

    func finishSending(batches: Int, loadID: String) {
        let rows = state.withLock { state in
            state.batches = batches
            return state.rowsSent
        }
        let seconds = max(0.001, (ContinuousClock.now - started).seconds)
        draw("\(fileName): \(rows) rows sent in \(batches) batches, \(Int(Double(rows) / seconds)) rows/s (load \(loadID))", final: true)
    }

    func applied(rows: Int, batches: Int) {
        let line: String? = state.withLock { state in
            guard due(&state) else { return nil }
            return "\(fileName): \(batches) of \(state.batches) batches applied (\(rows) rows)"
        }
        if let line { draw(line) }
    }

    private func due(_ state: inout State) -> Bool {
        let now = ContinuousClock.now
        guard now - state.lastDrawn >= (isTerminal ? .milliseconds(250) : .seconds(5)) else { return false }
        state.lastDrawn = now
        return true
    }

    private func draw(_ line: String, final: Bool = false) {
        if isTerminal {
            state.withLock { $0.lineOpen = !final }
            FileHandle.standardOutput.write(Data(("\r\u{1B}[K" + line + (final ? "\n" : "")).utf8))
        } else {
            say(line)
        }
    }

    /// Ends a line drawn in place, so what follows starts on its own line.
    func close() {
        if state.withLock({ $0.lineOpen }) { FileHandle.standardOutput.write(Data("\n".utf8)) }
    }

    private static func clock(_ seconds: Double) -> String {
        let total = Int(seconds.rounded())
        return String(format: "%d:%02d:%02d", total / 3600, total / 60 % 60, total % 60)
    }
}

extension Duration {
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}
