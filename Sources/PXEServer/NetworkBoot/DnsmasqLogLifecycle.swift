import BackgroundServices
import Logging
import PXEHosts

/// The one running `DnsmasqLogFollower` (none while `dhcp.mode` is off): started with the
/// worker, replaced when SIGHUP changes the dhcp keys, stopped at shutdown.
final class DnsmasqLogLifecycle: BackgroundService, Sendable {
    let name = "dnsmasq-log"
    private let current = Shared<DnsmasqLogFollower?>(nil)
    private let bootLog: BootLog
    private let logger: Logger
    private let configuration: @Sendable () -> Configuration

    init(bootLog: BootLog, logger: Logger, configuration: @escaping @Sendable () -> Configuration) {
        self.bootLog = bootLog
        self.logger = logger
        self.configuration = configuration
    }

    func start() { restart(configuration()) }

    /// Follows dnsmasq's log for `configuration` (nothing when `dhcp.mode` is off), stopping the
    /// follower before.
    func restart(_ configuration: Configuration) {
        let follower = DnsmasqLogFollower.make(configuration, bootLog: bootLog, logger: logger)
        current.exchange(follower)?.stop()
        follower?.start()
    }

    func stop(deadline: ContinuousClock.Instant) -> Bool {
        current.exchange(nil)?.stop(deadline: deadline) ?? true
    }
}
