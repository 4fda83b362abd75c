package kontor.functions;

import org.apache.spark.sql.api.java.UDF2;

/** kontor_jaro_winkler_similarity(a, b): DuckDB's jaro_winkler_similarity; NULL in, NULL out. */
public final class JaroWinklerSimilarity implements UDF2<String, String, Double> {
    private static final long serialVersionUID = 1L;

    @Override
    public Double call(String a, String b) {
        return a == null || b == null ? null : Similarity.jaroWinkler(Similarity.codePoints(a), Similarity.codePoints(b));
    }
}
