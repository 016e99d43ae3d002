import PixelRTS
import PXECatalog
import Testing

@Suite struct HashTests {
    @Test(arguments: [
        ("", "d41d8cd98f00b204e9800998ecf8427e"),
        ("abc", "900150983cd24fb0d6963f7d28e17f72"),
        ("The quick brown fox jumps over the lazy dog", "9e107d9d372bb6826bd81d3542a419d6"),
        (String(repeating: "a", count: 1000), "cabe45dcc9ae5b66ba86600cca6b8ba8"),
    ])
    func md5MatchesReferenceVectors(input: String, expected: String) {
        #expect(Digest.hex(.md5, of: Array(input.utf8)) == expected)
    }

    @Test func sha256MatchesReferenceVectors() {
        #expect(Digest.hex(.sha256, of: Array("".utf8)) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(Digest.hex(.sha256, of: Array("abc".utf8)) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    }

    /// Existing clients keep their ids: first 12 hex digits of MD5 of the real path. The
    /// expected values come from Python's hashlib (`hashlib.md5(path.encode()).hexdigest()[:12]`),
    /// as the previous server computed them.
    @Test(arguments: [
        ("/srv/pxe/alpine.rts.png", "11e9973f1056"),
        ("/tmp/demo/alpine-3.20.rts.png", "59cae45cc56e"),
        ("/var/lib/pxe/images/debian 12 é.rts.png", "8b4b5c51649d"),
        ("/", "6666cd76f969"),
    ])
    func entryIDIsMD5PrefixOfTheRealPath(path: String, id: String) {
        #expect(CatalogEntry.id(forRealPath: path) == id)
    }

    @Test func recognisesWellFormedIDs() {
        #expect(CatalogEntry.isWellFormedID("59cae45cc56e"))
        #expect(!CatalogEntry.isWellFormedID("59CAE45CC56E"))
        #expect(!CatalogEntry.isWellFormedID("59cae45cc56"))
        #expect(!CatalogEntry.isWellFormedID("../etc/passw"))
    }
}
