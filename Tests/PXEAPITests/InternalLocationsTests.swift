import PXEAPI
import Testing

@Suite struct InternalLocationsTests {
    @Test func percentEncodesEverySegmentByteOutsideUnreserved() {
        let locations = InternalLocations(prefix: "/_x", catalogRoots: ["/a"], filesRoot: "/a")
        #expect(locations.redirectURI(index: 0, relativePath: "dir with space/100% ?#&;é\r\n.rts.png")
                == "/_x/0/dir%20with%20space/100%25%20%3F%23%26%3B%C3%A9%0D%0A.rts.png")
    }

    @Test func filesRootReusesACatalogRootOrGetsItsOwnLocation() {
        let shared = InternalLocations(prefix: "/i/", catalogRoots: ["/a", "/b"], filesRoot: "/b")
        #expect(shared.directories == ["/a", "/b"])
        #expect(shared.filesRootIndex == 1)
        let separate = InternalLocations(prefix: "/i/", catalogRoots: ["/a"], filesRoot: "/f")
        #expect(separate.directories == ["/a", "/f"])
        #expect(separate.filesRootIndex == 1)
        #expect(separate.locationURI(index: 1) == "/i/1/")
    }
}
