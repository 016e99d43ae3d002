import Foundation

/// Random-access bytes: a file read with `pread`, or memory (tests, the fuzzer).
/// The PNG reader only ever asks for chunk headers and the chunks it needs.
public protocol ByteSource {
    var size: Int64 { get }
    /// Exactly `count` bytes at `offset`, or nil when they are not there (short file, I/O error).
    func read(at offset: Int64, count: Int) -> [UInt8]?
    /// Exactly `count` bytes at `offset` into the start of `buffer` (at least `count` long);
    /// false when they are not there. For large reads into a buffer that is reused.
    func read(at offset: Int64, into buffer: inout [UInt8], count: Int) -> Bool
}

extension ByteSource {
    public func read(at offset: Int64, into buffer: inout [UInt8], count: Int) -> Bool {
        guard let bytes = read(at: offset, count: count) else { return false }
        buffer.replaceSubrange(0..<count, with: bytes)
        return true
    }
}

public struct MemoryByteSource: ByteSource {
    public let bytes: [UInt8]
    public init(_ bytes: [UInt8]) { self.bytes = bytes }
    public var size: Int64 { Int64(bytes.count) }
    public func read(at offset: Int64, count: Int) -> [UInt8]? {
        guard offset >= 0, count >= 0, offset + Int64(count) <= size else { return nil }
        return Array(bytes[Int(offset)..<Int(offset) + count])
    }
}

/// An open file read with `pread`; owns its descriptor and closes it on deinit. The first
/// `headBytes` are read at once: a small container (and the head of any) then costs one read
/// instead of one per chunk header.
public final class FileByteSource: ByteSource {
    public static let headBytes = 64 * 1024
    private let descriptor: Int32
    public let size: Int64
    public let status: stat
    private var head: [UInt8] = []

    public convenience init?(path: String) {
        self.init(path: path, readingHead: true)
    }

    deinit { close(descriptor) }

    public func read(at offset: Int64, count: Int) -> [UInt8]? {
        guard offset >= 0, count >= 0 else { return nil }
        if offset + Int64(count) <= Int64(head.count) { return Array(head[Int(offset)..<Int(offset) + count]) }
        return readDirect(at: offset, count: count)
    }

    public func read(at offset: Int64, into buffer: inout [UInt8], count: Int) -> Bool {
        guard offset >= 0, count >= 0, count <= buffer.count else { return false }
        var done = 0
        while done < count {
            let n = buffer.withUnsafeMutableBytes { raw in
                pread(descriptor, raw.baseAddress! + done, count - done, off_t(offset) + off_t(done))
            }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { return false }
            done += n
        }
        return true
    }

    /// Opens without reading ahead (the payload decoder reads in its own pieces).
    public init?(path: String, readingHead: Bool) {
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)
        guard fd >= 0 else { return nil }
        var info = stat()
        guard fstat(fd, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else {
            close(fd)
            return nil
        }
        descriptor = fd
        size = Int64(info.st_size)
        status = info
        if readingHead { head = readDirect(at: 0, count: Int(min(size, Int64(Self.headBytes)))) ?? [] }
    }

    private func readDirect(at offset: Int64, count: Int) -> [UInt8]? {
        if count == 0 { return [] }
        var buffer = [UInt8](repeating: 0, count: count)
        var done = 0
        while done < count {
            let n = buffer.withUnsafeMutableBytes { raw in
                pread(descriptor, raw.baseAddress! + done, count - done, off_t(offset) + off_t(done))
            }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { return nil }
            done += n
        }
        return buffer
    }
}
