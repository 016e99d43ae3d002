import Foundation

/// Whether a kernel carries an Authenticode signature (a PE image's certificate table, data
/// directory 4, holding a PKCS#7 SignedData), and the subject of the certificate that signed it.
/// This says what the file claims, not that the signature is valid: whether it chains to a
/// trusted key is the firmware's and shim's decision, at the machine. Reads headers and the
/// certificate table only (bounded), never trusts an offset or a length it did not check.
package enum KernelSignature: Sendable, Equatable {
    case signed(signer: String?)
    case unsigned(problem: String?)

    /// The largest certificate table read (Debian's kernels carry about 1.5 KB).
    static let maximumTableBytes = 256 * 1024

    package var isSigned: Bool {
        if case .signed = self { return true }
        return false
    }

    /// Reads the file at `path`; a file that cannot be read is unsigned with why.
    package static func read(path: String) -> KernelSignature {
        guard let handle = FileHandle(forReadingAtPath: path) else { return .unsigned(problem: "the kernel could not be read") }
        defer { try? handle.close() }
        guard let head = try? handle.read(upToCount: 4096), head.count >= 64 else { return .unsigned(problem: "the kernel is too short to be a PE image") }
        let size = (try? handle.seekToEnd()).map(Int.init) ?? 0
        return inspect(head: [UInt8](head), fileSize: size) { offset, count in
            guard (try? handle.seek(toOffset: UInt64(offset))) != nil, let data = try? handle.read(upToCount: count) else { return nil }
            return [UInt8](data)
        }
    }

    /// `head`: the file's first bytes (at least its headers); `read(offset, count)` the rest.
    package static func inspect(head: [UInt8], fileSize: Int, read: (Int, Int) -> [UInt8]?) -> KernelSignature {
        func u16(_ bytes: [UInt8], _ at: Int) -> Int? { at >= 0 && at + 2 <= bytes.count ? Int(bytes[at]) | Int(bytes[at + 1]) << 8 : nil }
        func u32(_ bytes: [UInt8], _ at: Int) -> Int? {
            guard at >= 0, at + 4 <= bytes.count else { return nil }
            return Int(bytes[at]) | Int(bytes[at + 1]) << 8 | Int(bytes[at + 2]) << 16 | Int(bytes[at + 3]) << 24
        }
        guard head.count >= 64, head[0] == 0x4D, head[1] == 0x5A, let pe = u32(head, 0x3C) else {
            return .unsigned(problem: "the kernel is not a PE image (no MZ header): it cannot boot under UEFI Secure Boot")
        }
        guard let signature = u32(head, pe), signature == 0x4550, let magic = u16(head, pe + 24) else {
            return .unsigned(problem: "the kernel's PE header is missing or lies beyond its first 4 KB")
        }
        // The data directories follow the optional header's fixed part: 96 bytes (PE32), 112 (PE32+).
        let directories = pe + 24 + (magic == 0x20B ? 112 : 96)
        guard magic == 0x20B || magic == 0x10B, let count = u32(head, directories - 4) else {
            return .unsigned(problem: "the kernel's PE optional header is malformed")
        }
        guard count > 4, let offset = u32(head, directories + 32), let length = u32(head, directories + 36) else {
            return .unsigned(problem: nil)   // no certificate table: not signed
        }
        if offset == 0 || length == 0 { return .unsigned(problem: nil) }
        guard length >= 8, length <= maximumTableBytes, offset + length <= fileSize else {
            return .unsigned(problem: "the kernel's certificate table (\(length) bytes at \(offset)) does not fit the file")
        }
        guard let table = read(offset, length), table.count == length,
              let entryLength = u32(table, 0), let type = u16(table, 6), entryLength >= 8, entryLength <= length else {
            return .unsigned(problem: "the kernel's certificate table could not be read whole")
        }
        // WIN_CERT_TYPE_PKCS_SIGNED_DATA
        guard type == 0x0002 else { return .unsigned(problem: "the kernel's certificate table holds no PKCS#7 signature (type \(type))") }
        guard let signer = SignedData.signerSubject(Array(table[8..<entryLength])) else {
            return .unsigned(problem: "the kernel's signature is not a well-formed PKCS#7 SignedData")
        }
        return .signed(signer: signer.isEmpty ? nil : signer)
    }

    /// Just enough DER to find who signed: ContentInfo → SignedData → the signer's issuer and
    /// serial → the certificate with that serial → its subject's common name (else organisation).
    enum SignedData {
        struct Element {
            let tag: UInt8
            let content: Range<Int>
            let end: Int
        }

        /// The element starting at `start` within `limit`; nil when its length does not fit.
        static func element(_ bytes: [UInt8], at start: Int, limit: Int) -> Element? {
            guard start + 2 <= limit else { return nil }
            let tag = bytes[start]
            guard tag & 0x1F != 0x1F else { return nil }   // high tag numbers: not in this structure
            var length = Int(bytes[start + 1])
            var header = 2
            if length & 0x80 != 0 {
                let octets = length & 0x7F
                guard (1...4).contains(octets), start + 2 + octets <= limit else { return nil }
                length = 0
                for index in 0..<octets { length = length << 8 | Int(bytes[start + 2 + index]) }
                header += octets
            }
            let contentStart = start + header
            guard length >= 0, contentStart + length <= limit else { return nil }
            return Element(tag: tag, content: contentStart..<contentStart + length, end: contentStart + length)
        }

        static func children(_ bytes: [UInt8], of parent: Element) -> [Element]? {
            var result: [Element] = []
            var position = parent.content.lowerBound
            while position < parent.content.upperBound {
                guard result.count < 4096, let child = element(bytes, at: position, limit: parent.content.upperBound) else { return nil }
                result.append(child)
                position = child.end
            }
            return result
        }

        static let signedDataOID: [UInt8] = [0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x07, 0x02]
        static let commonNameOID: [UInt8] = [0x55, 0x04, 0x03]
        static let organisationOID: [UInt8] = [0x55, 0x04, 0x0A]

        /// The signer's subject ("" when its certificate is not included); nil when malformed.
        static func signerSubject(_ bytes: [UInt8]) -> String? {
            guard let info = element(bytes, at: 0, limit: bytes.count), info.tag == 0x30,
                  let parts = children(bytes, of: info), parts.count >= 2, parts[0].tag == 0x06,
                  Array(bytes[parts[0].content]) == signedDataOID, parts[1].tag == 0xA0,
                  let explicit = children(bytes, of: parts[1]), let signed = explicit.first, signed.tag == 0x30,
                  let fields = children(bytes, of: signed), fields.count >= 4,
                  let signerInfos = fields.last, signerInfos.tag == 0x31 else { return nil }
            let certificates = fields.first { $0.tag == 0xA0 }.flatMap { children(bytes, of: $0) } ?? []
            guard let signerInfo = children(bytes, of: signerInfos)?.first, signerInfo.tag == 0x30,
                  let signerFields = children(bytes, of: signerInfo), signerFields.count >= 2 else { return nil }
            // sid: IssuerAndSerialNumber (a SEQUENCE of the issuer's Name and the serial).
            var serial: [UInt8]?
            if signerFields[1].tag == 0x30, let sid = children(bytes, of: signerFields[1]), sid.count == 2, sid[1].tag == 0x02 {
                serial = Array(bytes[sid[1].content])
            }
            var fallback: String?
            for certificate in certificates where certificate.tag == 0x30 {
                guard let tbs = children(bytes, of: certificate)?.first, tbs.tag == 0x30, var fields = children(bytes, of: tbs) else { continue }
                if fields.first?.tag == 0xA0 { fields.removeFirst() }   // version
                guard fields.count >= 5, fields[0].tag == 0x02 else { continue }
                let subject = name(bytes, fields[4])
                if serial == nil || Array(bytes[fields[0].content]) == serial! { return subject ?? "" }
                fallback = fallback ?? subject
            }
            return serial == nil ? (fallback ?? "") : ""
        }

        /// A Name's common name, else its organisation, as printable text (at most 128 characters).
        static func name(_ bytes: [UInt8], _ element: Element) -> String? {
            guard element.tag == 0x30, let sets = children(bytes, of: element) else { return nil }
            var found: [[UInt8]: String] = [:]
            for set in sets where set.tag == 0x31 {
                for pair in children(bytes, of: set) ?? [] where pair.tag == 0x30 {
                    guard let members = children(bytes, of: pair), members.count == 2, members[0].tag == 0x06 else { continue }
                    let value = Array(bytes[members[1].content])
                    let text: String
                    switch members[1].tag {
                    case 0x1E:   // BMPString: UTF-16 big-endian
                        text = String(decoding: stride(from: 0, to: value.count - 1, by: 2).map { UInt16(value[$0]) << 8 | UInt16(value[$0 + 1]) }, as: UTF16.self)
                    default:
                        text = String(decoding: value, as: UTF8.self)
                    }
                    found[Array(bytes[members[0].content])] = text
                }
            }
            guard let raw = found[commonNameOID] ?? found[organisationOID] else { return nil }
            let printable = String(raw.unicodeScalars.filter { $0.value >= 0x20 && $0.value != 0x7F && !(0x80...0x9F).contains($0.value) }.prefix(128).map(Character.init))
            return printable
        }
    }
}
