import BackgroundServices
import BootScripts
import Foundation
import Locking
import Logging
import PXEAPI

/// Keeps GRUB's files in the TFTP root what the catalog, the settings and the host policy make
/// them (`GRUBTree`), while UEFI machines boot shim + GRUB (`dhcp.uefi_boot` `shim-grub`). The
/// tree is derived, never the truth: each node writes its own from its own state, so a fleet's
/// nodes follow one another through the settings they share.
///
/// Four times a second it asks whether what the tree is made from changed (a revision and two
/// small tables, no rendering), and only then renders it and rewrites what differs: each menu as
/// a new file renamed over the old one (dnsmasq never sends half a menu), each boot part as a
/// symbolic link into the boot cache (never a copy).
final class GRUBTreeWriter: BackgroundService, Sendable {
    let name = "grub-tree"
    static let interval: DispatchTimeInterval = .milliseconds(250)

    private let root: String
    private let cacheDirectory: String
    private let api: CatalogAPI
    private let logger: Logger
    private let thread = Locked<PeriodicThread?>(nil)
    /// What the tree on disk was made from, and the tree.
    private let written = Locked<(version: GRUBTreeVersion, tree: GRUBTree)?>(nil)

    init(root: String, cacheDirectory: String, api: CatalogAPI, logger: Logger) {
        self.root = root
        self.cacheDirectory = cacheDirectory
        self.api = api
        self.logger = logger
    }

    static func make(_ configuration: Configuration, api: CatalogAPI, logger: Logger) -> GRUBTreeWriter? {
        guard configuration.dhcp.mode != .off, configuration.dhcp.uefiBoot == .shimGRUB else { return nil }
        return GRUBTreeWriter(root: configuration.effectiveTFTPRoot, cacheDirectory: configuration.effectiveCacheDirectory, api: api, logger: logger)
    }

    /// Writes the tree once (machines that boot right after the start find their menu), then
    /// keeps it up to date on a thread.
    func start() throws {
        do {
            try FileManager.default.createDirectory(atPath: root + "/grub", withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
            try FileManager.default.createDirectory(atPath: root + "/" + GRUBScripts.partsDirectory, withIntermediateDirectories: true,
                                                    attributes: [.posixPermissions: 0o755])
        } catch {
            throw GRUBTreeError(description: "Cannot create GRUB's directories in the TFTP root \(root) (dhcp.tftp_root): \(error.localizedDescription)")
        }
        updateIfChanged()
        thread.withLock { $0 = PeriodicThread(name: name, interval: Self.interval, finalRun: false) { [self] in updateIfChanged() } }
    }

    func stop(deadline: ContinuousClock.Instant) -> Bool {
        thread.withLock { $0 }?.stop(deadline: deadline) ?? true
    }

    /// Renders and writes the tree when what it is made from changed since the last write.
    func updateIfChanged() {
        let version = api.grubTreeVersion()
        if let last = written.withLock({ $0 }), last.version == version { return }
        let tree = api.grubTree()
        let previous = written.withLock { $0?.tree }
        do {
            try write(tree, over: previous)
            written.withLock { $0 = (version, tree) }
        } catch {
            // Tried again at the next turn: the version is not taken as written.
            logger.error("\(error.description)")
        }
    }

    private func write(_ tree: GRUBTree, over previous: GRUBTree?) throws(GRUBTreeError) {
        // Machines' menus before the shared one that sends machines to them (it is last in this
        // order), and stale ones removed only after it: GRUB never turns to a file not there.
        let paths = tree.menus.keys.sorted { ($0 == GRUBScripts.menuPath ? 1 : 0, $0) < ($1 == GRUBScripts.menuPath ? 1 : 0, $1) }
        for path in paths {
            guard let text = tree.menus[path], previous?.menus[path] != text || !FileManager.default.fileExists(atPath: root + "/" + path) else { continue }
            // Whole or not at all (written beside it, renamed over it): dnsmasq never sends half a menu.
            do {
                try Data(text.utf8).write(to: URL(fileURLWithPath: root + "/" + path), options: .atomic)
            } catch {
                throw GRUBTreeError(description: "Cannot write \(path) in the TFTP root \(root): \(error.localizedDescription)")
            }
        }
        for (path, part) in tree.parts {
            let target = cacheDirectory + "/" + part.key + "/" + part.file
            let link = root + "/" + path
            if (try? FileManager.default.destinationOfSymbolicLink(atPath: link)) == target { continue }
            try? FileManager.default.createDirectory(atPath: (link as NSString).deletingLastPathComponent, withIntermediateDirectories: true,
                                                     attributes: [.posixPermissions: 0o755])
            if let reason = TFTPRoot.replaceLink(link, target: target) {
                throw GRUBTreeError(description: "Cannot link \(link) to the boot cache in the TFTP root: \(reason)")
            }
        }
        removeStale(keeping: tree)
    }

    /// Machines' menus and entries' parts that the tree no longer has: a machine whose rule went
    /// gets the shared menu again, a disabled entry can no longer be fetched by name.
    private func removeStale(keeping tree: GRUBTree) {
        let manager = FileManager.default
        for name in (try? manager.contentsOfDirectory(atPath: root + "/grub")) ?? []
        where name.hasPrefix("host-") && name.hasSuffix(".cfg") && tree.menus["grub/" + name] == nil {
            unlink(root + "/grub/" + name)
        }
        let parts = root + "/" + GRUBScripts.partsDirectory
        for id in (try? manager.contentsOfDirectory(atPath: parts)) ?? [] {
            let files = (try? manager.contentsOfDirectory(atPath: parts + "/" + id)) ?? []
            for file in files where tree.parts["\(GRUBScripts.partsDirectory)/\(id)/\(file)"] == nil { unlink(parts + "/" + id + "/" + file) }
            rmdir(parts + "/" + id)   // only when empty
        }
    }
}

struct GRUBTreeError: Error, CustomStringConvertible {
    let description: String
}
