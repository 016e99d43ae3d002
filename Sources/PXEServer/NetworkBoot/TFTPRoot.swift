import Foundation

/// The TFTP root's boot loaders: links to the files of Debian's `ipxe` package, or its
/// `shim-signed` and `grub-efi-amd64-signed` (never copies,
/// so a package upgrade reaches the machines), made by `pxe-catalog tftp-root` and the
/// pxe-catalog-dnsmasq unit before dnsmasq starts. nginx serves the same directory at `/boot/`.
package enum TFTPRoot {
    /// What `prepare` did to one loader.
    package enum Change: Equatable, CustomStringConvertible {
        case linked(name: String, target: String)
        case relinked(name: String, target: String)
        case unchanged(name: String)

        package var description: String {
            switch self {
            case let .linked(name, target): return "linked \(name) -> \(target)"
            case let .relinked(name, target): return "relinked \(name) -> \(target)"
            case let .unchanged(name): return "\(name) is in place"
            }
        }
    }

    package struct Failure: Error, CustomStringConvertible {
        package let description: String
    }

    /// Creates `root` (mode 0755) and makes each link `name` -> `target` in it; a file of that
    /// name that is not the right link is replaced. Doing it twice changes nothing.
    @discardableResult
    package static func prepare(root: String, links: [(name: String, target: String)]) throws(Failure) -> [Change] {
        let manager = FileManager.default
        do {
            try manager.createDirectory(atPath: root, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
        } catch {
            throw Failure(description: "Cannot create the TFTP root \(root) (dhcp.tftp_root): \(error.localizedDescription)")
        }
        var changes: [Change] = []
        var targets: [String: String] = [:]
        for (name, target) in links { targets[name] = target }
        for (name, target) in targets.sorted(by: { $0.key < $1.key }) {
            let link = root + "/" + name
            let current = try? manager.destinationOfSymbolicLink(atPath: link)
            if current == target {
                changes.append(.unchanged(name: name))
                continue
            }
            let existed = current != nil || manager.fileExists(atPath: link)
            if let reason = replaceLink(link, target: target) {
                throw Failure(description: "Cannot link \(link) to \(target) in the TFTP root: \(reason)")
            }
            changes.append(existed ? .relinked(name: name, target: target) : .linked(name: name, target: target))
        }
        return changes
    }

    /// Makes `link` point at `target`: a new link under a temporary name beside it, renamed
    /// over the old one, so TFTP never sees a gap. Answers why not when it fails.
    static func replaceLink(_ link: String, target: String) -> String? {
        let temporary = (link as NSString).deletingLastPathComponent + "/.\((link as NSString).lastPathComponent).\(getpid())"
        unlink(temporary)
        guard symlink(target, temporary) == 0, rename(temporary, link) == 0 else {
            let reason = String(cString: strerror(errno))
            unlink(temporary)
            return reason
        }
        return nil
    }
}
