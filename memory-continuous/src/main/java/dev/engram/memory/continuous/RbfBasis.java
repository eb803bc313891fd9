package dev.engram.memory.continuous;

import java.util.List;

/**
 * The ∞-former's Gaussian radial basis (docs/schemes.md section 2): {@code basis / widths.size()}
 * centres at linspace(0, 1, .), each taken with every width, index j = W * c + w.
 * psi_j(t) = Normal(t; c_j, w_j^2).
 */
final class RbfBasis {
    static final double SQRT_2PI = Math.sqrt(2 * Math.PI);

    private final int size;
    private final int widthCount;
    private final double[] centres;
    private final double[] widths;

    RbfBasis(int size, List<Double> widthList) {
        this.size = size;
        this.widthCount = widthList.size();
        int c = size / widthCount;
        this.centres = new double[size];
        this.widths = new double[size];
        for (int ci = 0; ci < c; ci++) {
            double centre = c == 1 ? 0.0 : (double) ci / (c - 1);
            for (int w = 0; w < widthCount; w++) {
                centres[ci * widthCount + w] = centre;
                widths[ci * widthCount + w] = widthList.get(w);
            }
        }
    }

    int size() {
        return size;
    }

    int widthCount() {
        return widthCount;
    }

    double centre(int j) {
        return centres[j];
    }

    double width(int j) {
        return widths[j];
    }

    /** psi_j(t). */
    double psi(int j, double t) {
        double w = widths[j];
        double d = (t - centres[j]) / w;
        return Math.exp(-0.5 * d * d) / (w * SQRT_2PI);
    }

    /** F = [psi(t_1) .. psi(t_P)] as a row-major N x P double matrix. */
    double[][] design(double[] positions) {
        double[][] f = new double[size][positions.length];
        for (int j = 0; j < size; j++) {
            for (int i = 0; i < positions.length; i++) {
                f[j][i] = psi(j, positions[i]);
            }
        }
        return f;
    }
}
