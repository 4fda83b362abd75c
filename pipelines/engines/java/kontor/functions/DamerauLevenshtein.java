package kontor.functions;

import org.apache.spark.sql.api.java.UDF2;

/** kontor_damerau_levenshtein(a, b): DuckDB's damerau_levenshtein; NULL in, NULL out. */
public final class DamerauLevenshtein implements UDF2<String, String, Integer> {
    private static final long serialVersionUID = 1L;

    @Override
    public Integer call(String a, String b) {
        return a == null || b == null ? null : Similarity.damerauLevenshtein(Similarity.codePoints(a), Similarity.codePoints(b));
    }
}
