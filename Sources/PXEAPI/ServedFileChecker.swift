import Foundation

/// Request-time checks on the file system: a file handed to nginx must still exist, be a
/// regular file, and resolve to a path inside its root. A protocol so tests can fake odd states.
public protocol ServedFileChecker: Sendable {
    /// The real path of `path` when it resolves to a regular file inside `root`, else nil.
    func resolveServable(path: String, insideRoot root: String) -> String?
}

public struct LiveFileChecker: ServedFileChecker {
    public init() {}

    public func resolveServable(path: String, insideRoot root: String) -> String? {
        guard let resolvedPointer = realpath(path, nil) else { return nil }
        let resolved = String(cString: resolvedPointer)
        free(resolvedPointer)
        guard let rootPointer = realpath(root, nil) else { return nil }
        let realRoot = String(cString: rootPointer)
        free(rootPointer)
        guard resolved.hasPrefix(realRoot == "/" ? "/" : realRoot + "/") else { return nil }
        var info = stat()
        guard stat(resolved, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else { return nil }
        return resolved
    }
}
