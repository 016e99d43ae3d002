import Foundation
import Locking

/// The worker's background services, listed once in start order: started in that order,
/// stopped in reverse (a service may use the ones started before it until it has stopped).
public final class ServiceGroup: Sendable {
    /// What the group tells the log.
    public enum Event: Sendable, Equatable {
        case started(String)
        case stopped(String, Duration)
        /// The service's threads did not end by the deadline.
        case stopTimedOut(String)
    }

    /// A service that could not start; the ones started before it were stopped again.
    public struct StartError: Error, CustomStringConvertible {
        public let service: String
        public let underlying: any Error
        public var description: String { "\(service) could not start: \(underlying)" }
    }

    /// What each service gets to stop, however late the ones before it were.
    public static let minimumGrace: Duration = .seconds(1)

    public let services: [any BackgroundService]
    private let log: @Sendable (Event) -> Void
    private let started = Locked(0)

    public init(_ services: [any BackgroundService], log: @escaping @Sendable (Event) -> Void = { _ in }) {
        self.services = services
        self.log = log
    }

    /// The services' names in start order.
    public var names: [String] { services.map(\.name) }

    /// Starts every service in order. When one cannot start, the ones before it are stopped
    /// (in reverse, within `stopWithin`) and the error names it.
    public func start(stopWithin: Duration = .seconds(10)) throws(StartError) {
        for (index, service) in services.enumerated() {
            do {
                try service.start()
            } catch {
                _ = stop(within: stopWithin)
                throw StartError(service: service.name, underlying: error)
            }
            started.withLock { $0 = index + 1 }
            log(.started(service.name))
        }
    }

    /// Stops the started services in reverse order, all within `within` (each gets what is
    /// left of it, and at least `minimumGrace`: one that overran does not leave the ones after
    /// it without a chance to end). Answers the names of those whose threads did not end in time.
    @discardableResult
    public func stop(within: Duration) -> [String] {
        let deadline = ContinuousClock.now + within
        let count = started.withLock { count in
            defer { count = 0 }
            return count
        }
        var late: [String] = []
        for service in services.prefix(count).reversed() {
            let began = ContinuousClock.now
            if service.stop(deadline: max(deadline, began + Self.minimumGrace)) {
                log(.stopped(service.name, ContinuousClock.now - began))
            } else {
                late.append(service.name)
                log(.stopTimedOut(service.name))
            }
        }
        return late
    }
}
