import Foundation
import PXECatalog

/// Request-time checks on the file system: a file handed to nginx must still exist, be a
/// regular file, and resolve to a path inside its root. A protocol so tests can fake odd states.
public protocol ServedFileChecker: Sendable {
    /// The real path of `path` when it resolves to a regular file inside `root`, else nil.
    func resolveServable(path: String, insideRoot root: String) -> String?
    /// Whether `realPath` is still exactly the file the scan saw (same device and inode, a
    /// regular file and not a symlink): one `lstat`, the fast path for downloads.
    func isUnchanged(realPath: String, identity: FileIdentity) -> Bool
}

public struct LiveFileChecker: ServedFileChecker {
    public init() {}

    public func isUnchanged(realPath: String, identity: FileIdentity) -> Bool {
        var info = stat()
        return lstat(realPath, &info) == 0 && (info.st_mode & S_IFMT) == S_IFREG
            && UInt64(info.st_dev) == identity.device && UInt64(info.st_ino) == identity.inode
    }

    public func resolveServable(path: String, insideRoot root: String) -> String? {
        guard let resolved = CatalogScanner.realPath(path), let realRoot = CatalogScanner.realPath(root) else { return nil }
        guard resolved.hasPrefix(realRoot == "/" ? "/" : realRoot + "/") else { return nil }
        var info = stat()
        guard stat(resolved, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else { return nil }
        return resolved
    }
}
