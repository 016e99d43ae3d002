import Foundation

/// Loopback and unix-socket plumbing shared by the test clients.
public enum Sockets {
    /// A connected TCP socket to 127.0.0.1:`port`, or nil. The caller closes it.
    public static func connectTCP(port: Int, receiveTimeout seconds: Int = 20) -> Int32? {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = UInt16(port).bigEndian
        return connect(family: AF_INET, address: &address, receiveTimeout: seconds)
    }

    /// A connected unix socket to `path`, or nil. The caller closes it.
    public static func connectUnix(path: String, receiveTimeout seconds: Int = 10) -> Int32? {
        var address = unixAddress(path)
        return connect(family: AF_UNIX, address: &address, receiveTimeout: seconds)
    }

    /// A listening unix socket at `path` (replacing a stale one). The caller closes it.
    public static func listenUnix(path: String) -> Int32 {
        unlink(path)
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        var address = unixAddress(path)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        precondition(bound == 0 && listen(fd, 1024) == 0, "cannot listen on \(path)")
        return fd
    }

    /// Sends `bytes`, then reads until the peer closes (or the receive timeout passes).
    public static func exchange(_ fd: Int32, _ bytes: [UInt8]) -> [UInt8] {
        _ = bytes.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        var answer: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n <= 0 { break }
            answer += buffer[0..<n]
        }
        return answer
    }

    /// Bytes waiting to be read on `fd` (FIONREAD).
    public static func pendingBytes(_ fd: Int32) -> Int {
        var count: Int32 = 0
        return ioctl(fd, UInt(FIONREAD), &count) == 0 ? Int(count) : 0
    }

    static func unixAddress(_ path: String) -> sockaddr_un {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: Array(path.utf8)) }
        return address
    }

    static func connect<Address>(family: Int32, address: inout Address, receiveTimeout seconds: Int) -> Int32? {
        let fd = socket(family, Int32(SOCK_STREAM.rawValue), 0)
        var timeout = timeval(tv_sec: seconds, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<Address>.size)) }
        }
        guard connected == 0 else {
            close(fd)
            return nil
        }
        return fd
    }
}
