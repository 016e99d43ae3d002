/// The Hilbert curve that orders a container's pixels: payload pixel `i` sits at column `x`,
/// row `y` of a square image of side `n` (a power of two), as the format's reference encoder
/// computes it (the classic `d2xy`, rotating with the current sub-square size).
public enum HilbertCurve {
    /// Column and row of pixel `index` on a curve of side `side`.
    public static func coordinates(of index: Int, side: Int) -> (x: Int, y: Int) {
        var x = 0, y = 0, t = index, s = 1
        while s < side {
            let rx = 1 & (t >> 1)
            let ry = 1 & (t ^ rx)
            if ry == 0 {
                if rx == 1 {
                    x = s - 1 - x
                    y = s - 1 - y
                }
                swap(&x, &y)
            }
            x += s * rx
            y += s * ry
            t >>= 2
            s <<= 1
        }
        return (x, y)
    }

    /// The pixel index at column `x`, row `y` (the inverse of `coordinates`).
    public static func index(x: Int, y: Int, side: Int) -> Int {
        var x = x, y = y, index = 0, s = side / 2
        while s > 0 {
            let rx = (x & s) > 0 ? 1 : 0
            let ry = (y & s) > 0 ? 1 : 0
            index += s * s * ((3 * rx) ^ ry)
            if ry == 0 {
                if rx == 1 {
                    x = side - 1 - x
                    y = side - 1 - y
                }
                swap(&x, &y)
            }
            s /= 2
        }
        return index
    }
}

/// How the pixels of one band of image rows map to the payload, for decoding without holding
/// the image: every aligned `block` x `block` square is visited by the curve as one run of
/// `block²` consecutive pixels starting at a multiple of `block²`, so a band of `block` rows
/// holds `side / block` whole runs. Inside a square the run is the curve of side `block` in one
/// of four orientations; `offsets[orientation]` lists, in run order, each pixel's position in
/// the band (row * side + column, relative to the square's first column).
struct HilbertBands {
    let side: Int
    let block: Int
    /// Run index of the square in band `by`, column `bx`, at `by * blocksPerSide + bx`.
    let runIndex: [Int32]
    /// Orientation of each square, same indexing.
    let orientation: [UInt8]
    /// For each orientation, the band offset of each pixel of the run.
    let offsets: [[UInt32]]

    var blocksPerSide: Int { side / block }

    /// `transposed`: the layout of files written before 2026-02-09, with x and y swapped.
    init(side: Int, block: Int, transposed: Bool = false) {
        precondition(side > 0 && side & (side - 1) == 0 && block > 0 && block & (block - 1) == 0 && block <= side)
        self.side = side
        self.block = block
        let perSide = side / block
        let area = block * block
        // The four orientations of a run inside its square, told apart by where the run
        // starts and ends (relative to the square): identity, transpose, anti-transpose, 180°.
        let canonical = (0..<area).map { HilbertCurve.coordinates(of: $0, side: block) }
        func transform(_ point: (x: Int, y: Int), _ orientation: Int) -> (x: Int, y: Int) {
            switch orientation {
            case 0: return point
            case 1: return (point.y, point.x)
            case 2: return (block - 1 - point.y, block - 1 - point.x)
            default: return (block - 1 - point.x, block - 1 - point.y)
            }
        }
        var runIndex = [Int32](repeating: 0, count: perSide * perSide)
        var orientation = [UInt8](repeating: 0, count: perSide * perSide)
        for run in 0..<(perSide * perSide) {
            let first = HilbertCurve.coordinates(of: run * area, side: side)
            let last = HilbertCurve.coordinates(of: run * area + area - 1, side: side)
            let originX = first.x - first.x % block, originY = first.y - first.y % block
            let start = (first.x - originX, first.y - originY), end = (last.x - originX, last.y - originY)
            let found = (0..<4).first { o in
                transform(canonical[0], o) == start && transform(canonical[area - 1], o) == end
            } ?? 0
            // In the transposed layout the logical (x, y) is the image's (row, column).
            let (bx, by) = transposed ? (originY / block, originX / block) : (originX / block, originY / block)
            runIndex[by * perSide + bx] = Int32(run)
            orientation[by * perSide + bx] = UInt8(found)
        }
        self.runIndex = runIndex
        self.orientation = orientation
        offsets = (0..<4).map { o in
            canonical.map { point in
                let (x, y) = transform(point, o)
                let (column, row) = transposed ? (y, x) : (x, y)
                return UInt32(row * side + column)
            }
        }
    }

    /// The band height to decode with: up to 256 rows, fewer when rows are so wide that the
    /// band would pass `maximumBandBytes`.
    static func blockSize(side: Int, maximumBandBytes: Int = 16 << 20) -> Int {
        var block = 1
        while block < 256, block * 2 <= side, block * 2 * side * 4 <= maximumBandBytes { block *= 2 }
        return block
    }
}
