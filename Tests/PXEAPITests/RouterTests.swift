import PXEAPI
import PXECatalog
import TestSupport
import Testing

@Suite struct RouterTests {
    @Test(arguments: ["/nope", "/containers/a/b", "/pxe/x", "/catalog", "/pxe/abc/toggle/x", "//containers"])
    func unknownPathsAre404WithAJSONError(_ path: String) {
        let response = APIFixture().call("GET", path)
        #expect(response.status == 404)
        #expect(response.bodyText == #"{"error":"No such endpoint."}"#)
        #expect(response.header("Content-Type") == "application/json; charset=utf-8")
    }

    @Test(arguments: [("POST", "/containers", "GET, HEAD"), ("DELETE", "/", "GET, HEAD"), ("GET", "/catalog/refresh", "POST"),
                      ("PUT", "/pxe/0123456789ab/toggle", "POST"), ("POST", "/files/x.rts.png", "GET, HEAD")])
    func wrongMethodIs405WithAllow(method: String, path: String, allow: String) {
        let response = APIFixture().call(method, path)
        #expect(response.status == 405)
        #expect(response.header("Allow") == allow)
        #expect(response.bodyText.hasPrefix(#"{"error":"Method \#(method) is not allowed here"#))
    }

    @Test func invalidUTF8PathIs400() {
        let response = APIFixture().call("GET", nil)
        #expect(response.status == 400)
        #expect(response.bodyText == #"{"error":"The request path is not valid UTF-8."}"#)
    }

    @Test func headKeepsContentLengthAndDropsTheBody() {
        let fixture = APIFixture(files: ["a.rts.png": PNGFixtures.named("A")])
        let get = fixture.call("GET", "/containers")
        let head = fixture.call("HEAD", "/containers")
        #expect(head.status == 200)
        #expect(head.body.isEmpty)
        #expect(head.contentLength == get.body.count)
    }
}
