import Foundation
@testable import PXECatalog
import TestSupport
import Testing

/// Reading a kernel's Authenticode signature: Debian's signed kernel (the one `make test`
/// unpacks), the same kernel with its signature removed, and hostile headers and tables.
@Suite struct KernelSignatureTests {
    static var debianKernel: String { TestServer.repositoryRoot + "/.build/boot-parts/vmlinuz" }

    static func kernelBytes() throws -> [UInt8] {
        try #require(FileManager.default.fileExists(atPath: debianKernel), "make boot-parts (part of make test) unpacks Debian's kernel")
        return try [UInt8](Data(contentsOf: URL(fileURLWithPath: debianKernel)))
    }

    static func inspect(_ bytes: [UInt8]) -> KernelSignature {
        KernelSignature.inspect(head: Array(bytes.prefix(4096)), fileSize: bytes.count) { offset, count in
            offset >= 0 && offset + count <= bytes.count ? Array(bytes[offset..<offset + count]) : nil
        }
    }

    /// Where the certificate table's directory entry is (PE32+), and the table's offset and size.
    static func certificateEntry(_ bytes: [UInt8]) -> (entry: Int, offset: Int, size: Int) {
        func u32(_ at: Int) -> Int { Int(bytes[at]) | Int(bytes[at + 1]) << 8 | Int(bytes[at + 2]) << 16 | Int(bytes[at + 3]) << 24 }
        let entry = u32(0x3C) + 24 + 112 + 32
        return (entry, u32(entry), u32(entry + 4))
    }

    @Test func debiansKernelIsSignedByDebian() throws {
        let signature = KernelSignature.read(path: Self.debianKernel)
        guard case let .signed(signer) = signature else { Issue.record("\(signature)"); return }
        #expect(signer?.contains("Debian Secure Boot") == true, "\(String(describing: signer))")
        #expect(Self.inspect(try Self.kernelBytes()) == signature, "the same from memory")
    }

    @Test func withoutItsCertificateTableTheKernelIsUnsigned() throws {
        var bytes = try Self.kernelBytes()
        let (entry, offset, size) = Self.certificateEntry(bytes)
        try #require(offset > 0 && size > 0)
        for index in entry..<entry + 8 { bytes[index] = 0 }
        bytes.removeSubrange(offset..<offset + size)
        #expect(Self.inspect(bytes) == .unsigned(problem: nil))
    }

    @Test func whatIsNotASignedPEImageSaysWhy() throws {
        #expect(Self.inspect(Array("not a kernel at all, just text that goes on for a while".utf8) + [UInt8](repeating: 0, count: 64))
                == .unsigned(problem: "the kernel is not a PE image (no MZ header): it cannot boot under UEFI Secure Boot"))
        var bytes = try Self.kernelBytes()
        let (entry, offset, _) = Self.certificateEntry(bytes)
        // A table said to run past the end of the file.
        var beyond = bytes
        beyond[entry + 4] = 0xFF; beyond[entry + 5] = 0xFF; beyond[entry + 6] = 0x03
        guard case let .unsigned(problem?) = Self.inspect(beyond) else { Issue.record("not refused"); return }
        #expect(problem.contains("does not fit the file"))
        // A table whose PKCS#7 is garbage.
        for index in offset + 8..<offset + 64 { bytes[index] = 0x5A }
        #expect(Self.inspect(bytes) == .unsigned(problem: "the kernel's signature is not a well-formed PKCS#7 SignedData"))
    }

    /// Hostile headers and tables: any bytes give an answer, never a crash or a read outside
    /// the file (the reader refuses offsets it did not check).
    @Test func mutatedHeadersAndTablesAlwaysGiveAnAnswer() throws {
        let original = try Self.kernelBytes()
        let (_, offset, size) = Self.certificateEntry(original)
        var random = SeededRandom(seed: 25)
        var answers: [Bool: Int] = [:]
        for round in 0..<400 {
            var bytes = original
            for _ in 0..<(1 + round % 8) {
                let inTable = random.next() % 2 == 0
                let at = inTable ? offset + Int(random.next() % UInt64(size)) : Int(random.next() % 1024)
                bytes[at] = UInt8(truncatingIfNeeded: random.next())
            }
            answers[Self.inspect(bytes).isSigned, default: 0] += 1
        }
        #expect((answers[false] ?? 0) > 0, "some mutations break the structure: \(answers)")
        #expect((answers[true] ?? 0) > 0, "bytes the reader does not depend on leave the signature found: \(answers)")
    }
}
