import Foundation

/// A directory under /tmp removed when the value is released.
public final class TemporaryDirectory: @unchecked Sendable {
    public let path: String

    public init(_ label: String = "pxe-catalog-test") {
        var template = Array("/tmp/\(label).XXXXXX".utf8CString)
        let created = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        precondition(created != nil, "mkdtemp failed")
        // realpath: ids are derived from symlink-resolved paths.
        path = URL(fileURLWithPath: String(cString: created!)).resolvingSymlinksInPath().path
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }

    /// Writes `bytes` at `relative` (creating parent directories) and returns the full path.
    /// The file is written through a close-on-exec descriptor: tests run in parallel, and a
    /// process another test starts meanwhile must not inherit it open for writing (a script
    /// written here would then fail to run with "Text file busy" until that process exits).
    @discardableResult
    public func write(_ bytes: [UInt8], to relative: String) -> String {
        let full = path + "/" + relative
        try! FileManager.default.createDirectory(atPath: (full as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        let fd = open(full, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        precondition(fd >= 0, "cannot write \(full)")
        var written = 0
        while written < bytes.count {
            let count = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + written, $0.count - written) }
            precondition(count > 0 || (count < 0 && errno == EINTR), "cannot write \(full)")
            if count > 0 { written += count }
        }
        close(fd)
        return full
    }

    /// Writes the same bytes to `count` files named by `name` (relative), with plain syscalls:
    /// catalogs of tens of thousands of files in a second.
    public func writeMany(_ bytes: [UInt8], count: Int, name: (Int) -> String) {
        var made = Set<String>()
        for index in 0..<count {
            let full = path + "/" + name(index)
            let parent = (full as NSString).deletingLastPathComponent
            if made.insert(parent).inserted {
                try! FileManager.default.createDirectory(atPath: parent, withIntermediateDirectories: true)
            }
            let fd = open(full, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
            precondition(fd >= 0, "cannot write \(full)")
            precondition(bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) } == bytes.count, "short write to \(full)")
            close(fd)
        }
    }

    public func subdirectory(_ relative: String) -> String {
        let full = path + "/" + relative
        try! FileManager.default.createDirectory(atPath: full, withIntermediateDirectories: true)
        return full
    }

    public func remove(_ relative: String) {
        try! FileManager.default.removeItem(atPath: path + "/" + relative)
    }
}
