#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Logging
import ServiceLifecycle
import Synchronization

/// Runs a worker's services until SIGTERM or SIGINT, then shuts them down gracefully.
///
/// ```swift
/// // main.swift of a worker, in outline
/// let settings = readSettingsOrExit { try WorkerSettings(defaultHTTPPort: 8081) }
/// SamparkLogging.bootstrap(level: settings.logLevel)
/// let registry = SamparkMetrics.bootstrap()
/// let health = HealthServer(settings: settings, checks: [ReadinessCheck("rabbitmq") { amqp.isConnected }],
///                           registry: registry)
/// await WorkerProcess.runAndExit(name: "sampark-ingest", services: [consumer], health: health,
///                                settings: settings, logger: Logger(label: "sampark.ingest"))
/// ```
///
/// What it does:
/// - The health server starts first and stops last, so `/health/live` and `/metrics` answer
///   while the workers start and while they drain; the worker services start in the given
///   order and stop in reverse (ServiceLifecycle's rule).
/// - When graceful shutdown begins (a signal, or a service ending), readiness fails at once
///   (``HealthServer/beginDraining()``), then each worker service gets the graceful-shutdown
///   signal (`gracefulShutdown()`, `cancelWhenGracefulShutdown`) and may finish what it holds.
/// - The shutdown is bounded by ``WorkerSettings/shutdownTimeout``: after it the remaining
///   services are cancelled (`ServiceGroupConfiguration.maximumGracefulShutdownDuration`).
/// - A worker service that returns or throws before shutdown was asked for stops the whole
///   process gracefully, and the process then exits 1 so an orchestrator restarts it.
/// - Start and stop are logged, with the settings (URLs masked).
public enum WorkerProcess {
    /// How the service group ended without an error.
    public enum Outcome: Sendable, Equatable {
        /// Every service finished within the shutdown timeout.
        case gracefulShutdown
        /// The timeout passed and the remaining services were cancelled (or the whole run was
        /// cancelled from outside).
        case shutdownTimedOut
    }

    /// A worker service ended before shutdown was asked for.
    public struct ServiceEndedEarly: Error, CustomStringConvertible {
        public let service: String
        public var description: String { "the service \(service) ended before shutdown was asked for" }
    }

    /// Runs until shutdown; then exits the process: 0 after a graceful shutdown, 1 if a
    /// service failed or the shutdown timed out. For `main`.
    public static func runAndExit(
        name: String, services: [any Service], health: HealthServer, settings: WorkerSettings, logger: Logger
    ) async -> Never {
        do {
            let outcome = try await run(
                name: name, services: services, health: health, settings: settings, logger: logger)
            exit(outcome == .gracefulShutdown ? 0 : 1)
        } catch {
            exit(1)  // `run` has logged it
        }
    }

    /// Runs until shutdown (SIGTERM or SIGINT) and returns how it ended; throws the first
    /// error of a failed service (after the others have shut down gracefully).
    public static func run(
        name: String, services: [any Service], health: HealthServer, settings: WorkerSettings, logger: Logger
    ) async throws -> Outcome {
        let run = makeRun(
            name: name, services: services, health: health, shutdownTimeout: settings.shutdownTimeout,
            logger: logger)
        var metadata = settings.logMetadata
        metadata["worker"] = .string(name)
        logger.info("worker starting", metadata: metadata)
        return try await run.run()
    }

    /// The service group of ``run(name:services:health:settings:logger:)``, not yet running:
    /// tests start it, call `triggerGracefulShutdown()` on ``Run/group`` and await ``Run/run()``.
    ///
    /// - Parameter handleSignals: SIGTERM and SIGINT start graceful shutdown; tests pass false
    ///   so a signal meant for the test runner is not taken.
    public static func makeRun(
        name: String, services: [any Service], health: HealthServer, shutdownTimeout: Duration,
        logger: Logger, handleSignals: Bool = true
    ) -> Run {
        let shutdown = ShutdownState()
        var configurations: [ServiceGroupConfiguration.ServiceConfiguration] = []
        // First to start, last to stop.
        configurations.append(
            .init(
                service: ManagedService(service: health, name: "health", shutdown: shutdown),
                successTerminationBehavior: .gracefullyShutdownGroup,
                failureTerminationBehavior: .gracefullyShutdownGroup, serviceName: "health"))
        for (index, service) in services.enumerated() {
            let serviceName = "\(type(of: service))#\(index)"
            configurations.append(
                .init(
                    service: ManagedService(service: service, name: serviceName, shutdown: shutdown),
                    successTerminationBehavior: .gracefullyShutdownGroup,
                    failureTerminationBehavior: .gracefullyShutdownGroup, serviceName: serviceName))
        }
        // Last in the list, so the first told of graceful shutdown: it flips readiness before
        // any worker starts draining. It returns at once; `.ignore` keeps that from ending the group.
        configurations.append(
            .init(
                service: DrainNotifier(health: health, shutdown: shutdown, logger: logger),
                successTerminationBehavior: .ignore, failureTerminationBehavior: .ignore,
                serviceName: "drain-notifier"))

        var configuration = ServiceGroupConfiguration(
            services: configurations, gracefulShutdownSignals: handleSignals ? [.sigterm, .sigint] : [],
            logger: logger)
        configuration.maximumGracefulShutdownDuration = shutdownTimeout
        return Run(
            name: name, group: ServiceGroup(configuration: configuration), shutdown: shutdown,
            shutdownTimeout: shutdownTimeout, logger: logger)
    }

    /// A configured worker process: its service group and how to run it.
    public struct Run: Sendable {
        public let name: String
        /// The group itself: `triggerGracefulShutdown()` does what SIGTERM does.
        public let group: ServiceGroup
        let shutdown: ShutdownState
        let shutdownTimeout: Duration
        let logger: Logger

        /// Runs the group to its end and logs how it ended.
        public func run() async throws -> Outcome {
            var failure: (any Error)?
            do {
                try await group.run()
            } catch {
                failure = error
            }
            // The group cancels the services still running when the timeout passes. Cancelled
            // services may return or throw (`CancellationError`): either way the drain was
            // cut short, which ManagedService noted.
            if shutdown.wasCancelled {
                var metadata: Logger.Metadata = [
                    "worker": .string(name), "shutdown_timeout_s": "\(shutdownTimeout.components.seconds)",
                ]
                if let failure { metadata["error"] = .string(String(describing: failure)) }
                logger.warning(
                    "worker stopped: graceful shutdown timed out, remaining services were cancelled",
                    metadata: metadata)
                return .shutdownTimedOut
            }
            if let failure {
                logger.error(
                    "worker stopped after a failure",
                    metadata: ["worker": .string(name), "error": .string(String(describing: failure))])
                throw failure
            }
            logger.info("worker stopped", metadata: ["worker": .string(name)])
            return .gracefulShutdown
        }
    }
}

/// What the services of one run share: whether graceful shutdown has begun, and whether a
/// service was cancelled (the shutdown timed out, or the whole run was cancelled).
final class ShutdownState: Sendable {
    private struct Flags {
        var begun = false
        var cancelled = false
    }
    private let flags = Mutex(Flags())

    func begin() { flags.withLock { $0.begun = true } }
    var hasBegun: Bool { flags.withLock { $0.begun } }
    func noteCancelled() { flags.withLock { $0.cancelled = true } }
    var wasCancelled: Bool { flags.withLock { $0.cancelled } }
}

/// Waits for graceful shutdown, then marks it begun and fails readiness.
struct DrainNotifier: Service {
    let health: HealthServer
    let shutdown: ShutdownState
    let logger: Logger

    func run() async throws {
        // Throws only on cancellation, when there is nothing left to drain.
        try? await gracefulShutdown()
        shutdown.begin()
        health.beginDraining()
        logger.info("graceful shutdown started: readiness now fails")
    }
}

/// Wraps each service of the run: notes when it was cancelled rather than shut down, and turns
/// an early return into an error, so the process exits non-zero and gets restarted.
struct ManagedService: Service, CustomStringConvertible {
    let service: any Service
    let name: String
    let shutdown: ShutdownState

    var description: String { name }

    func run() async throws {
        do {
            try await service.run()
        } catch {
            if Task.isCancelled { shutdown.noteCancelled() }
            throw error
        }
        if Task.isCancelled { shutdown.noteCancelled() }
        // DrainNotifier is told first, so a service that returns because of graceful
        // shutdown always finds it begun.
        if !shutdown.hasBegun { throw WorkerProcess.ServiceEndedEarly(service: name) }
    }
}
