@testable import PixelRTS
import Testing

@Suite struct HilbertCurveTests {
    /// The sequences the format's notes give: order 1 visits (0,0),(0,1),(1,1),(1,0); order 2
    /// begins (0,0),(1,0),(1,1),(0,1),(0,2).
    @Test func followsTheKnownSequences() {
        #expect((0..<4).map { HilbertCurve.coordinates(of: $0, side: 2) }.map { [$0.x, $0.y] } == [[0, 0], [0, 1], [1, 1], [1, 0]])
        #expect((0..<5).map { HilbertCurve.coordinates(of: $0, side: 4) }.map { [$0.x, $0.y] } == [[0, 0], [1, 0], [1, 1], [0, 1], [0, 2]])
        // The whole order-2 curve (16 cells), computed with the notes' formula in Python.
        #expect((0..<16).map { HilbertCurve.coordinates(of: $0, side: 4) }.map { [$0.x, $0.y] } == [
            [0, 0], [1, 0], [1, 1], [0, 1], [0, 2], [0, 3], [1, 3], [1, 2],
            [2, 2], [2, 3], [3, 3], [3, 2], [3, 1], [2, 1], [2, 0], [3, 0],
        ])
    }

    @Test(arguments: [1, 2, 4, 8, 32, 128])
    func visitsEveryCellOnceWithUnitSteps(side: Int) {
        var seen = Set<Int>()
        var previous: (x: Int, y: Int)?
        for index in 0..<(side * side) {
            let point = HilbertCurve.coordinates(of: index, side: side)
            #expect(point.x >= 0 && point.x < side && point.y >= 0 && point.y < side)
            seen.insert(point.y * side + point.x)
            if let previous { #expect(abs(previous.x - point.x) + abs(previous.y - point.y) == 1) }
            previous = point
            #expect(HilbertCurve.index(x: point.x, y: point.y, side: side) == index)
        }
        #expect(seen.count == side * side)
    }

    /// The band mapping the decoder and encoder use agrees with the curve, pixel by pixel, for
    /// every block size, in both layouts.
    @Test(arguments: [(2, 1), (4, 2), (8, 2), (16, 4), (32, 8), (64, 16), (64, 64), (256, 32)])
    func bandsPutEveryPixelWhereTheCurveSays(side: Int, block: Int) {
        for transposed in [false, true] {
            let bands = HilbertBands(side: side, block: block, transposed: transposed)
            var mismatches = 0
            for by in 0..<bands.blocksPerSide {
                for bx in 0..<bands.blocksPerSide {
                    let square = by * bands.blocksPerSide + bx
                    let run = Int(bands.runIndex[square])
                    let offsets = bands.offsets[Int(bands.orientation[square])]
                    for i in 0..<(block * block) {
                        let (x, y) = HilbertCurve.coordinates(of: run * block * block + i, side: side)
                        let (column, row) = transposed ? (y, x) : (x, y)
                        // Offset within the band: row within the band times the side, plus column.
                        let expected = (row - by * block) * side + (column - bx * block)
                        if Int(offsets[i]) != expected { mismatches += 1 }
                    }
                }
            }
            #expect(mismatches == 0, "side \(side), block \(block), transposed \(transposed)")
        }
    }

    @Test func bandHeightStaysWithinTheMemoryBound() {
        #expect(HilbertBands.blockSize(side: 1) == 1)
        #expect(HilbertBands.blockSize(side: 64) == 64)
        #expect(HilbertBands.blockSize(side: 16384) == 256)
        #expect(HilbertBands.blockSize(side: 65536) == 64)   // 64 rows of 256 KiB: 16 MiB
        #expect(HilbertBands.blockSize(side: 1 << 20) == 4)
    }
}
