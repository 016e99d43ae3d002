import BackgroundServices
import FastCGI
import Foundation
import Logging
import PXESettings

/// The FastCGI transport as a service: its threads accept from nginx until it stops; in-flight
/// requests get up to `shutdownTimeout` to be answered.
final class FastCGITransport: BackgroundService, Sendable {
    let name = "fastcgi"
    let server: FastCGIServer
    private let shutdownTimeout: Duration

    init(server: FastCGIServer, shutdownTimeout: Duration) {
        self.server = server
        self.shutdownTimeout = shutdownTimeout
    }

    func start() { server.start() }

    func stop(deadline: ContinuousClock.Instant) -> Bool {
        let limit = min(deadline, .now + shutdownTimeout)
        guard server.stop(deadline: ContinuousClock.now.duration(to: limit)) else { return false }
        server.waitUntilStopped()
        return true
    }
}

/// The settings store's watch (another process's or node's commits, a lost or regained
/// database) as a service: it hands each event to `handle`; stopping closes the store, after
/// every service that writes to it has stopped.
final class SettingsStoreWatch: BackgroundService, Sendable {
    let name = "settings-watch"
    private let store: any SettingsStore
    private let handle: @Sendable (SettingsStoreEvent) -> Void

    init(store: any SettingsStore, handle: @escaping @Sendable (SettingsStoreEvent) -> Void) {
        self.store = store
        self.handle = handle
    }

    func start() { store.watch(handle) }

    func stop(deadline: ContinuousClock.Instant) -> Bool {
        store.close()
        return true
    }
}
