import Foundation
import PXECatalog

/// Request-time checks on the file system: a file handed to nginx must still exist, be a
/// regular file, and resolve to a path inside its root. A protocol so tests can fake odd states.
package protocol ServedFileChecker: Sendable {
    /// The real path of `path` when it resolves to a regular file inside `root`, else nil.
    func resolveServable(path: String, insideRoot root: String) -> String?
    /// Whether `root/relativePath` (the real path the scan resolved) is still exactly the file
    /// the scan saw (same device and inode, a regular file and not a symlink): one `lstat`, the
    /// fast path for downloads.
    func isUnchanged(rootRealPath: String, relativePath: String, identity: FileIdentity) -> Bool
}

package struct LiveFileChecker: ServedFileChecker {
    package init() {}

    package func isUnchanged(rootRealPath: String, relativePath: String, identity: FileIdentity) -> Bool {
        var root = rootRealPath
        var relative = relativePath
        return root.withUTF8 { rootBytes in
            relative.withUTF8 { relativeBytes in
                // The path is joined on the stack: this runs for every download request.
                let length = rootBytes.count + 1 + relativeBytes.count
                return withUnsafeTemporaryAllocation(of: CChar.self, capacity: length + 1) { path in
                    let raw = UnsafeMutableRawBufferPointer(path)
                    raw.copyMemory(from: UnsafeRawBufferPointer(rootBytes))
                    let separator = rootBytes.count == 1 && rootBytes[0] == UInt8(ascii: "/") ? 0 : 1
                    if separator == 1 { raw[rootBytes.count] = UInt8(ascii: "/") }
                    UnsafeMutableRawBufferPointer(rebasing: raw[(rootBytes.count + separator)...]).copyMemory(from: UnsafeRawBufferPointer(relativeBytes))
                    raw[rootBytes.count + separator + relativeBytes.count] = 0
                    var info = stat()
                    return lstat(path.baseAddress!, &info) == 0 && (info.st_mode & S_IFMT) == S_IFREG
                        && UInt64(info.st_dev) == identity.device && UInt64(info.st_ino) == identity.inode
                }
            }
        }
    }

    package func resolveServable(path: String, insideRoot root: String) -> String? {
        guard let resolved = CatalogScanner.realPath(path), let realRoot = CatalogScanner.realPath(root) else { return nil }
        guard resolved.hasPrefix(realRoot == "/" ? "/" : realRoot + "/") else { return nil }
        var info = stat()
        guard stat(resolved, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else { return nil }
        return resolved
    }
}
