package kontor.functions;

import java.util.HashMap;

/**
 * DuckDB's string similarities, on Unicode code points, with DuckDB's arithmetic in the same
 * order so that the doubles are bit-identical. A port of pipelines/engines/spark_functions.py
 * (whose docstrings document the algorithms: DuckDB's vendored rapidfuzz Jaro-Winkler, and
 * Damerau-Levenshtein with adjacent transpositions, unrestricted edits);
 * tests/engines/test_spark_functions.py compares both with DuckDB on every pair of a word list.
 */
public final class Similarity {
    private Similarity() {
    }

    /** The code points of {@code s} (Java strings are UTF-16: a character outside the BMP is two chars). */
    static int[] codePoints(String s) {
        int n = s.length();
        int[] out = new int[s.codePointCount(0, n)];
        for (int i = 0, k = 0; i < n; k++) {
            int c = s.codePointAt(i);
            out[k] = c;
            i += Character.charCount(c);
        }
        return out;
    }

    /** DuckDB's jaro_similarity: 0.0 when either string is empty (also both). */
    public static double jaro(int[] p, int[] t) {
        int pLen = p.length, tLen = t.length;
        if (pLen == 0 || tLen == 0) {
            return 0.0;
        }
        if (pLen == 1 && tLen == 1) {
            return p[0] == t[0] ? 1.0 : 0.0;
        }
        int bound = Math.max(pLen, tLen) / 2 - 1;
        boolean[] pFlag = new boolean[pLen];
        boolean[] tFlag = new boolean[tLen];
        int common = 0;
        for (int j = 0; j < tLen; j++) {        // each character of t takes the first free match in p
            int ch = t[j];
            int end = Math.min(pLen, j + bound + 1);
            for (int i = Math.max(0, j - bound); i < end; i++) {
                if (!pFlag[i] && p[i] == ch) {
                    pFlag[i] = true;
                    tFlag[j] = true;
                    common++;
                    break;
                }
            }
        }
        if (common == 0) {
            return 0.0;
        }
        int halfTranspositions = 0;             // matched characters of p and t, in order, that differ
        for (int j = 0, i = 0; j < tLen; j++) {
            if (tFlag[j]) {
                while (!pFlag[i]) {
                    i++;
                }
                if (p[i] != t[j]) {
                    halfTranspositions++;
                }
                i++;
            }
        }
        int transpositions = halfTranspositions / 2;
        double sim = 0.0;
        sim += (double) common / pLen;
        sim += (double) common / tLen;
        sim += (double) (common - transpositions) / common;
        return sim / 3.0;
    }

    /** DuckDB's jaro_winkler_similarity: prefix weight 0.1, prefix up to 4, boost above 0.7. */
    public static double jaroWinkler(int[] p, int[] t) {
        double sim = jaro(p, t);
        if (sim > 0.7) {
            int n = Math.min(4, Math.min(p.length, t.length));
            int prefix = 0;
            while (prefix < n && p[prefix] == t[prefix]) {
                prefix++;
            }
            // one rounding, as DuckDB's compiled sim += prefix * weight * (1 - sim) (a fused multiply-add)
            sim = Math.fma(prefix * 0.1, 1.0 - sim, sim);
        }
        return sim;
    }

    /**
     * DuckDB's damerau_levenshtein: insertions, deletions, substitutions and transpositions of
     * adjacent characters, a substring edited more than once allowed (Lowrance-Wagner).
     */
    public static int damerauLevenshtein(int[] a, int[] b) {
        int la = a.length, lb = b.length, inf = la + lb, cols = lb + 2;
        // the last row of each character of a, kept per character of a's alphabet: b's characters
        // are looked up once here instead of once per cell
        HashMap<Integer, Integer> alphabet = new HashMap<>();
        int[] aId = new int[la];
        for (int i = 0; i < la; i++) {
            Integer id = alphabet.putIfAbsent(a[i], alphabet.size());
            aId[i] = id == null ? alphabet.size() - 1 : id;
        }
        int[] bId = new int[lb];
        for (int j = 0; j < lb; j++) {
            bId[j] = alphabet.getOrDefault(b[j], -1);
        }
        int[] lastRow = new int[alphabet.size()];
        int[] d = new int[(la + 2) * cols];
        java.util.Arrays.fill(d, inf);
        for (int i = 0; i <= la; i++) {
            d[(i + 1) * cols] = inf;
            d[(i + 1) * cols + 1] = i;
        }
        for (int j = 0; j <= lb; j++) {
            d[j + 1] = inf;
            d[cols + j + 1] = j;
        }
        for (int i = 1; i <= la; i++) {
            int lastMatchCol = 0;
            for (int j = 1; j <= lb; j++) {
                int i1 = bId[j - 1] < 0 ? 0 : lastRow[bId[j - 1]];
                int j1 = lastMatchCol;
                int cost = a[i - 1] == b[j - 1] ? 0 : 1;
                if (cost == 0) {
                    lastMatchCol = j;
                }
                int best = Math.min(Math.min(d[i * cols + j] + cost, d[(i + 1) * cols + j] + 1),
                                    Math.min(d[i * cols + j + 1] + 1,
                                             d[i1 * cols + j1] + (i - i1 - 1) + 1 + (j - j1 - 1)));
                d[(i + 1) * cols + j + 1] = best;
            }
            lastRow[aId[i - 1]] = i;
        }
        return d[(la + 1) * cols + lb + 1];
    }
}
