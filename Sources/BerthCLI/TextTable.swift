/// The tables `ps`, `images` and `--format 'table …'` print: each cell padded to its column's
/// widest, two spaces between columns, the last column as it is (podman's tabwriter).
enum TextTable {
    static func render(_ rows: [[String]]) -> String {
        var widths: [Int] = []
        for row in rows {
            for (column, cell) in row.enumerated() {
                if column == widths.count { widths.append(0) }
                widths[column] = max(widths[column], cell.count)
            }
        }
        return rows.map { row in
            row.enumerated().map { $0 == row.count - 1 ? $1 : $1.padding(toLength: widths[$0] + 2, withPad: " ", startingAt: 0) }.joined() + "\n"
        }.joined()
    }
}
