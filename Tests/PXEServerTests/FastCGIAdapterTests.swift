import FastCGI
@testable import PXEServer
import Testing

/// CGI params to the API's request value: the host clients used (scripts put it in absolute URLs).
@Suite struct FastCGIAdapterTests {
    func host(_ httpHost: String, port: String) -> String? {
        let request = FastCGIRequest(params: [("HTTP_HOST", Array(httpHost.utf8)), ("SERVER_PORT", Array(port.utf8)),
                                              ("REQUEST_METHOD", Array("GET".utf8)), ("DOCUMENT_URI", Array("/pxe/boot.ipxe".utf8))])
        return FastCGIAdapter.httpRequest(from: request).headers["host"]
    }

    @Test func thePortIsAddedWhenTheHostHasNone() {
        #expect(host("boot.lab", port: "8080") == "boot.lab:8080")
        #expect(host("boot.lab", port: "80") == "boot.lab")
        #expect(host("[fd00::1]", port: "8080") == "[fd00::1]:8080")
        #expect(host("boot.lab:8080", port: "8080") == "boot.lab:8080")
        #expect(host("[fd00::1]:8443", port: "8443") == "[fd00::1]:8443")
    }
}
