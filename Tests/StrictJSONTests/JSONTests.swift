import StrictJSON
import Testing

@Suite struct JSONTests {
    @Test func parsesTypesExactly() throws {
        let value = try JSONParser.parse(#"{"a": true, "b": 1, "c": 1.5, "d": "x\u00e9\n", "e": null, "f": [1, {"g": false}]}"#)
        #expect(value["a"] == .bool(true))
        #expect(value["b"] == .int(1))
        #expect(value["c"] == .double(1.5))
        #expect(value["d"] == .string("xé\n"))
        #expect(value["e"] == .null)
        #expect(value["f"] == .array([.int(1), .object([("g", .bool(false))])]))
    }

    @Test func oneIsNotTrue() throws {
        #expect(try JSONParser.parse("1") != .bool(true))
        #expect(try JSONParser.parse("true") == .bool(true))
    }

    @Test(arguments: ["", "{", "{\"a\":}", "[1,]", "tru", "{\"a\":1}x", "\"\\ud800\"", "01", "\"a\u{01}\"", "{'a':1}"])
    func rejectsMalformedText(_ text: String) {
        #expect(throws: JSONParser.SyntaxError.self) { try JSONParser.parse(text) }
    }

    @Test func rejectsDeepNesting() {
        let deep = String(repeating: "[", count: 100) + String(repeating: "]", count: 100)
        #expect(throws: JSONParser.SyntaxError.self) { try JSONParser.parse(deep) }
    }

    @Test func serialisesInKeyOrderWithEscapes() {
        let value = JSONValue.object([("z", .int(1)), ("a", .string("q\"\\\n\u{01}é")), ("n", .null), ("l", .array([.bool(false)]))])
        #expect(value.serializedString() == #"{"z":1,"a":"q\"\\\n\u0001é","n":null,"l":[false]}"#)
    }

    @Test func roundTripsThroughTheParser() throws {
        let value = JSONValue.object([("k", .array([.int(-3), .double(2.5), .string("𝄞"), .null]))])
        #expect(try JSONParser.parse(value.serialized()) == value)
    }
}
