/// The shape of a catalog entry's id (12 lowercase hex digits, the start of the MD5 of the
/// file's real path): settings are kept by it, so a settings file or store row whose key has
/// another shape is refused rather than kept for an entry that can never exist.
package enum EntryID {
    package static func isWellFormed(_ candidate: String) -> Bool {
        var count = 0
        for byte in candidate.utf8 {
            count += 1
            guard count <= 12, (0x30...0x39).contains(byte) || (0x61...0x66).contains(byte) else { return false }
        }
        return count == 12
    }
}
