import Glibc

/// Why a container could not be opened. The message names what is wrong and where (never a
/// server path); the kind says whose fault it is: the container's (it will fail again), the
/// disk's (worth another try once there is room), or nobody's (the work was stopped).
public struct DecodeError: Error, Equatable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        /// The container is malformed or does not match its own hashes and sizes.
        case content
        /// Writing the payload failed (a full disk, an I/O error).
        case storage
        /// The caller asked the decoder to stop.
        case stopped
    }

    public let kind: Kind
    public let description: String
    /// The system's error number, for storage failures.
    public let code: Int32?

    public init(_ description: String) {
        kind = .content
        self.description = description
        code = nil
    }

    public init(storage step: String, code: Int32) {
        kind = .storage
        description = "\(step): \(String(cString: strerror(code)))"
        self.code = code
    }

    public init(stopped: Void) {
        kind = .stopped
        description = "preparing was stopped"
        code = nil
    }

    public static func storage(_ step: String, code: Int32) -> DecodeError { DecodeError(storage: step, code: code) }

    /// The disk is full (ENOSPC or EDQUOT).
    public var isOutOfSpace: Bool { code == ENOSPC || code == EDQUOT }
}
