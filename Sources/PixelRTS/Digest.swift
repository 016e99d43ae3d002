import CCrypto
import Foundation

/// A streaming message digest over OpenSSL's EVP interface (libcrypto): SHA-256 for payload
/// verification (hundreds of MB per container: OpenSSL uses the CPU's SHA extensions), MD5 for
/// the catalog's ids (the previous server's scheme; nothing security-related).
public final class Digest {
    public enum Algorithm: Sendable {
        case sha256
        case md5

        var evp: OpaquePointer? {
            switch self {
            case .sha256: return EVP_sha256()
            case .md5: return EVP_md5()
            }
        }
    }

    private let context: OpaquePointer
    private var finished = false

    /// Wraps `EVP_MD_CTX_new` and `EVP_DigestInit_ex`.
    public init(_ algorithm: Algorithm) {
        guard let context = EVP_MD_CTX_new(), EVP_DigestInit_ex(context, algorithm.evp, nil) == 1 else {
            fatalError("libcrypto cannot set up a digest context; the process is out of memory or OpenSSL is broken")
        }
        self.context = context
    }

    deinit { EVP_MD_CTX_free(context) }

    /// Wraps `EVP_DigestUpdate`.
    public func update(_ bytes: UnsafeRawBufferPointer) {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return }
        _ = EVP_DigestUpdate(context, base, bytes.count)
    }

    public func update(_ bytes: some ContiguousBytes) {
        bytes.withUnsafeBytes { update($0) }
    }

    /// The digest in lowercase hex; wraps `EVP_DigestFinal_ex`. Call once.
    public func finalizeHex() -> String {
        precondition(!finished, "a digest is finalised once")
        finished = true
        var output = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
        var length: UInt32 = 0
        _ = EVP_DigestFinal_ex(context, &output, &length)
        return Self.hex(output.prefix(Int(length)))
    }

    /// The hex digest of `bytes` at once.
    public static func hex(_ algorithm: Algorithm, of bytes: some ContiguousBytes) -> String {
        let digest = Digest(algorithm)
        digest.update(bytes)
        return digest.finalizeHex()
    }

    static func hex(_ bytes: some Collection<UInt8>) -> String {
        let digits = Array("0123456789abcdef".utf8)
        return String(unsafeUninitializedCapacity: bytes.count * 2) { buffer in
            var index = 0
            for byte in bytes {
                buffer[index] = digits[Int(byte >> 4)]
                buffer[index + 1] = digits[Int(byte & 0x0F)]
                index += 2
            }
            return index
        }
    }

    /// Whether `text` is `length` lowercase hex digits (a digest as this format writes them).
    public static func isHex(_ text: String, length: Int) -> Bool {
        text.utf8.count == length && text.utf8.allSatisfy { (0x30...0x39).contains($0) || (0x61...0x66).contains($0) }
    }
}
