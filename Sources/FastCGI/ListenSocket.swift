import CFastCGI
import Glibc

/// Where the worker's listening socket comes from, in the order a service manager would offer it.
public enum ListenSocket {
    /// Why the worker's own socket could not be opened.
    public struct OpenError: Error, CustomStringConvertible {
        public enum Kind: Sendable, Equatable {
            /// Another process answers on the socket.
            case inUse
            /// socket, bind or listen failed (the message has the system's reason).
            case listenFailed
            /// The socket's mode could not be set.
            case modeNotSet
        }

        public let kind: Kind
        public let description: String
    }

    /// The socket systemd passed (`LISTEN_FDS=1` for this pid: fd 3), or the listening socket on
    /// fd 0 (spawn-fcgi), else nil.
    public static func inherited(environment: [String: String]) -> Int32? {
        if let count = environment["LISTEN_FDS"].flatMap(Int.init), count >= 1,
           environment["LISTEN_PID"].flatMap(Int32.init) == getpid(), isListeningSocket(3) {
            return 3
        }
        return isListeningSocket(0) ? 0 : nil
    }

    public static func isListeningSocket(_ fd: Int32) -> Bool {
        var accepting: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        return getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &accepting, &length) == 0 && accepting != 0
    }

    /// Creates a unix socket at `path` (replacing a stale one) with the given permission bits.
    /// Wraps `FCGX_OpenSocket`; refuses to replace a socket another process still listens on.
    public static func open(path: String, mode: mode_t, backlog: Int32 = 1024) throws(OpenError) -> Int32 {
        if isAlive(path: path) {
            throw OpenError(kind: .inUse, description: "Socket \(path) is in use by another process; refusing to take it over.")
        }
        let fd = FCGX_OpenSocket(path, backlog)
        guard fd >= 0 else {
            throw OpenError(kind: .listenFailed, description: "Cannot listen on socket \(path): \(String(cString: strerror(errno))).")
        }
        guard chmod(path, mode) == 0 else {
            let reason = String(cString: strerror(errno))
            close(fd)
            throw OpenError(kind: .modeNotSet, description: "Cannot set mode \(String(mode, radix: 8)) on socket \(path): \(reason).")
        }
        _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
        return fd
    }

    /// Whether something accepts connections on the unix socket at `path`.
    static func isAlive(path: String) -> Bool {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else { return false }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: bytes)
        }
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        return result == 0
    }
}
