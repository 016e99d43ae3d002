import Foundation
import Locking
import PXEHosts
import Testing

@Suite struct AnswerTokenBookTests {
    /// A clock the test moves.
    final class Clock: Sendable {
        let now = Locked(1_000_000.0)
        func advance(_ seconds: Double) { now.withLock { $0 += seconds } }
        var read: @Sendable () -> Double { { [now] in now.withLock { $0 } } }
    }

    static let mac = "52:54:00:12:34:56"
    static let machine = MachineIdentity(mac: mac, hostname: "web-1")

    @Test func aTokenGivesEachFileOnceToItsMachineOnly() {
        let book = AnswerTokenBook(policy: .init(lifetimeSeconds: 600, fetchesPerFile: 1), clock: Clock().read)
        let token = book.mint(machine: Self.machine, mac: Self.mac, entry: "0123456789ab", template: "debian")
        #expect(token.count == 32 && token.allSatisfy(\.isHexDigit))
        #expect(book.use(token: token, mac: "52:54:00:12:34:57", file: "debian.preseed") == .otherMachine)
        guard case let .granted(grant) = book.use(token: token, mac: Self.mac, file: "debian.preseed") else {
            Issue.record("not granted")
            return
        }
        #expect(grant.entry == "0123456789ab" && grant.template == "debian" && grant.machine.hostname == "web-1")
        #expect(book.use(token: token, mac: Self.mac, file: "debian.preseed") == .spent)
        #expect(book.check(token: token, mac: Self.mac, file: "debian.preseed") == .spent)
        // Another file of the same template (cloud-init's meta-data beside user-data) has its own count.
        #expect(book.check(token: token, mac: Self.mac, file: "meta-data") != .spent)
        #expect(book.use(token: "0" + token.dropFirst(), mac: Self.mac, file: "debian.preseed") == .unknown)
    }

    @Test func aTokenExpiresAndAnyNumberOfFetchesIsAPolicy() {
        let clock = Clock()
        let book = AnswerTokenBook(policy: .init(lifetimeSeconds: 60, fetchesPerFile: 0), clock: clock.read)
        let token = book.mint(machine: Self.machine, mac: Self.mac, entry: "0123456789ab", template: "debian")
        for _ in 0..<5 {
            guard case .granted = book.use(token: token, mac: Self.mac, file: "f") else { Issue.record("refused within its lifetime"); return }
        }
        clock.advance(59)
        #expect(book.check(token: token, mac: Self.mac, file: "f") != .expired)
        clock.advance(1)
        #expect(book.use(token: token, mac: Self.mac, file: "f") == .expired)
        // A policy set later applies to tokens already out.
        book.setPolicy(.init(lifetimeSeconds: 3600, fetchesPerFile: 0))
        #expect(book.check(token: token, mac: Self.mac, file: "f") != .expired)
    }

    @Test func aNewerTokenForTheSameMachineAndEntryReplacesTheOlder() {
        let book = AnswerTokenBook(clock: Clock().read)
        let first = book.mint(machine: Self.machine, mac: Self.mac, entry: "0123456789ab", template: "debian")
        let other = book.mint(machine: Self.machine, mac: Self.mac, entry: "ba9876543210", template: "debian")
        let second = book.mint(machine: Self.machine, mac: Self.mac, entry: "0123456789ab", template: "debian")
        #expect(first != second)
        #expect(book.check(token: first, mac: Self.mac, file: "f") == .unknown)
        #expect(book.check(token: other, mac: Self.mac, file: "f") != .unknown)
        #expect(book.count == 2)
    }

    /// Two fetches racing for a token's last use: exactly one gets it.
    @Test func onlyOneOfManyRacingFetchesGetsTheLastUse() async {
        let book = AnswerTokenBook(policy: .init(lifetimeSeconds: 600, fetchesPerFile: 1), clock: Clock().read)
        let token = book.mint(machine: Self.machine, mac: Self.mac, entry: "0123456789ab", template: "debian")
        let granted = await withTaskGroup(of: Bool.self) { group in
            for _ in 0..<16 {
                group.addTask {
                    if case .granted = book.use(token: token, mac: Self.mac, file: "f") { return true }
                    return false
                }
            }
            return await group.reduce(0) { $0 + ($1 ? 1 : 0) }
        }
        #expect(granted == 1)
    }

    /// Menus written ahead (GRUB's) keep a token while it is unused and young, and get a new
    /// one once it is used or half its lifetime is gone; the epoch says when to rewrite them.
    @Test func aLastingTokenIsRenewedWhenUsedOrHalfAged() {
        let clock = Clock()
        let book = AnswerTokenBook(policy: .init(lifetimeSeconds: 600, fetchesPerFile: 1), clock: clock.read)
        let first = book.lasting(machine: Self.machine, mac: Self.mac, entry: "0123456789ab", template: "debian")
        let epoch = book.epoch()
        #expect(book.lasting(machine: Self.machine, mac: Self.mac, entry: "0123456789ab", template: "debian") == first)
        guard case .granted = book.use(token: first, mac: Self.mac, file: "debian.preseed") else { Issue.record("refused"); return }
        #expect(book.epoch() != epoch, "a use moves the epoch")
        let second = book.lasting(machine: Self.machine, mac: Self.mac, entry: "0123456789ab", template: "debian")
        #expect(second != first)
        let afterUse = book.epoch()
        clock.advance(299)
        #expect(book.lasting(machine: Self.machine, mac: Self.mac, entry: "0123456789ab", template: "debian") == second)
        clock.advance(2)
        #expect(book.epoch() != afterUse, "half a lifetime moves the epoch")
        #expect(book.lasting(machine: Self.machine, mac: Self.mac, entry: "0123456789ab", template: "debian") != second)
    }
}
