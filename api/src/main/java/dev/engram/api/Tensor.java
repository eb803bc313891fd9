package dev.engram.api;

import java.util.Arrays;

/**
 * A dense, row-major float32 tensor over a slice of a {@code float[]}.
 *
 * <p>Views ({@link #select}, {@link #reshape}) share the backing array, so slicing a head out of a
 * [H, N, d] tensor copies nothing. Kernels read {@link #array()} from {@link #offset()} directly; the
 * element at index (i0, .., ik) lives at {@code offset + sum(i_j * stride_j)} with row-major strides.
 * A tensor is not thread-safe; it is a window on memory that its creator owns.
 */
public final class Tensor {
    private final float[] data;
    private final int offset;
    private final int[] shape;
    private final int size;

    private Tensor(float[] data, int offset, int[] shape) {
        this.data = data;
        this.offset = offset;
        this.shape = shape;
        this.size = sizeOf(shape);
    }

    /** A new zero-filled tensor. */
    public static Tensor zeros(int... shape) {
        int[] s = checkedShape(shape);
        return new Tensor(new float[sizeOf(s)], 0, s);
    }

    /** Wraps {@code data} without copying; its length must equal the product of {@code shape}. */
    public static Tensor of(float[] data, int... shape) {
        if (data == null) {
            throw new InvalidInputException("data", "is null");
        }
        int[] s = checkedShape(shape);
        if (data.length != sizeOf(s)) {
            throw new ShapeMismatchException("data", "has " + data.length + " values; shape "
                    + Arrays.toString(s) + " needs " + sizeOf(s));
        }
        return new Tensor(data, 0, s);
    }

    /** A view of {@code length} values of {@code data} from {@code offset}, without copying. */
    public static Tensor view(float[] data, int offset, int... shape) {
        int[] s = checkedShape(shape);
        if (data == null) {
            throw new InvalidInputException("data", "is null; valid: an array of at least " + sizeOf(s)
                    + " values for shape " + Arrays.toString(s));
        }
        if (sizeOf(s) > data.length) {
            throw new ShapeMismatchException("data", "has " + data.length + " values; shape " + Arrays.toString(s)
                    + " needs " + sizeOf(s));
        }
        if (offset < 0 || offset + (long) sizeOf(s) > data.length) {
            throw InvalidInputException.outOfRange("offset", offset,
                    "[0, " + (data.length - sizeOf(s)) + "] for shape " + Arrays.toString(s)
                            + " over " + data.length + " values");
        }
        return new Tensor(data, offset, s);
    }

    private static int[] checkedShape(int[] shape) {
        if (shape == null) {
            throw new InvalidInputException("shape", "is null");
        }
        long product = 1;
        for (int i = 0; i < shape.length; i++) {
            if (shape[i] < 0) {
                throw InvalidInputException.outOfRange("shape[" + i + "]", shape[i], ">= 0");
            }
            product *= shape[i];
            if (product > Integer.MAX_VALUE - 8) {
                throw new ShapeMismatchException("shape", Arrays.toString(shape)
                        + " has more than " + (Integer.MAX_VALUE - 8) + " elements");
            }
        }
        return shape.clone();
    }

    private static int sizeOf(int[] shape) {
        int n = 1;
        for (int d : shape) {
            n *= d;
        }
        return n;
    }

    public int rank() {
        return shape.length;
    }

    public int dim(int axis) {
        return shape[axis];
    }

    /** A copy of the shape. */
    public int[] shape() {
        return shape.clone();
    }

    /** Number of elements. */
    public int size() {
        return size;
    }

    /**
     * The backing array, live and shared with every view: no copy is made, so kernels run on it directly. Writing it
     * writes every tensor that shares it, so write only tensors you created. An input you were given, a weight
     * (shared by every sequence of a model) or a readout you did not make is read-only by contract; the test kit
     * checks inputs and weights are unchanged after a provider's calls. Elements start at {@link #offset()}.
     */
    public float[] array() {
        return data;
    }

    public int offset() {
        return offset;
    }

    /** Stride of {@code axis} in elements. */
    public int stride(int axis) {
        int s = 1;
        for (int i = shape.length - 1; i > axis; i--) {
            s *= shape[i];
        }
        return s;
    }

    private int flatIndex(int[] index) {
        if (index.length != shape.length) {
            throw new ShapeMismatchException("index", "has " + index.length + " coordinates; tensor rank is "
                    + shape.length);
        }
        int flat = 0;
        for (int i = 0; i < shape.length; i++) {
            if (index[i] < 0 || index[i] >= shape[i]) {
                throw InvalidInputException.outOfRange("index[" + i + "]", index[i], "[0, " + (shape[i] - 1) + "]");
            }
            flat = flat * shape[i] + index[i];
        }
        return offset + flat;
    }

    public float get(int... index) {
        return data[flatIndex(index)];
    }

    public void set(float value, int... index) {
        data[flatIndex(index)] = value;
    }

    /** The sub-tensor at {@code index} along the first axis, sharing this tensor's array. */
    public Tensor select(int index) {
        if (shape.length == 0) {
            throw new ShapeMismatchException("select", "cannot select from a scalar");
        }
        if (index < 0 || index >= shape[0]) {
            throw InvalidInputException.outOfRange("index", index, "[0, " + (shape[0] - 1) + "]");
        }
        int[] sub = Arrays.copyOfRange(shape, 1, shape.length);
        return new Tensor(data, offset + index * sizeOf(sub), sub);
    }

    /** The same elements under another shape with the same element count; no copy. */
    public Tensor reshape(int... newShape) {
        int[] s = checkedShape(newShape);
        if (sizeOf(s) != size) {
            throw new ShapeMismatchException("shape", "cannot reshape " + Arrays.toString(shape) + " ("
                    + size + " elements) to " + Arrays.toString(s));
        }
        return new Tensor(data, offset, s);
    }

    /** A deep copy that owns a new array. */
    public Tensor copy() {
        return new Tensor(Arrays.copyOfRange(data, offset, offset + size), 0, shape.clone());
    }

    /** The elements as a new array. */
    public float[] toArray() {
        return Arrays.copyOfRange(data, offset, offset + size);
    }

    /** Copies {@code source}'s elements into this tensor; shapes must match. */
    public void copyFrom(Tensor source) {
        source.requireShape("source", shape);
        System.arraycopy(source.data, source.offset, data, offset, size);
    }

    public void fill(float value) {
        Arrays.fill(data, offset, offset + size, value);
    }

    /** Throws {@link ShapeMismatchException} naming {@code field} unless this tensor has exactly {@code expected}. */
    public Tensor requireShape(String field, int... expected) {
        if (!Arrays.equals(shape, expected)) {
            throw new ShapeMismatchException(field, expected, shape);
        }
        return this;
    }

    /** Throws {@link InvalidInputException} naming {@code field} and the first NaN or infinite element. */
    public Tensor requireFinite(String field) {
        requireFinite(field, 0, size);
        return this;
    }

    /** Throws naming {@code field} and the first NaN or infinite element among flat indices [from, to). */
    private void requireFinite(String field, int from, int to) {
        if (allFinite(data, offset + from, offset + to)) {
            return;
        }
        for (int i = from; i < to; i++) {
            float x = data[offset + i];
            if (!Float.isFinite(x)) {
                throw new InvalidInputException(field, "element " + Arrays.toString(unflatten(i)) + " is " + x
                        + "; valid: finite values");
            }
        }
    }

    /**
     * Whether a[from, to) holds no NaN or infinity: x * 0 is (+-)0 for a finite x and NaN otherwise, so a sum of those
     * is 0 exactly when every x is finite. Eight independent sums and no branch per element run at about twice the
     * speed of an early-exit loop (the engine checks every layer's q, k and v); the slow loop above only names the
     * element once this says there is one.
     */
    private static boolean allFinite(float[] a, int from, int to) {
        float s0 = 0f, s1 = 0f, s2 = 0f, s3 = 0f, s4 = 0f, s5 = 0f, s6 = 0f, s7 = 0f;
        int i = from;
        for (; i + 8 <= to; i += 8) {
            s0 += a[i] * 0f;
            s1 += a[i + 1] * 0f;
            s2 += a[i + 2] * 0f;
            s3 += a[i + 3] * 0f;
            s4 += a[i + 4] * 0f;
            s5 += a[i + 5] * 0f;
            s6 += a[i + 6] * 0f;
            s7 += a[i + 7] * 0f;
        }
        for (; i < to; i++) {
            s0 += a[i] * 0f;
        }
        return s0 + s1 + s2 + s3 + s4 + s5 + s6 + s7 == 0f;
    }

    /**
     * As {@link #requireFinite}, over rows [from, N) only, the rows being the second-to-last axis ([heads, N, d] or
     * [N, e]): for an input whose earlier rows are not read, or were checked already.
     */
    public Tensor requireFiniteRows(String field, int from) {
        if (shape.length < 2) {
            throw new ShapeMismatchException(field, "has rank " + shape.length + "; rows need rank >= 2");
        }
        int rows = shape[shape.length - 2];
        int width = shape[shape.length - 1];
        if (from < 0 || from > rows) {
            throw InvalidInputException.outOfRange("from", from, "[0, " + rows + "] (" + field + " has " + rows + " rows)");
        }
        int blocks = rows * width == 0 ? 0 : size / (rows * width);
        for (int b = 0; b < blocks; b++) {
            requireFinite(field, (b * rows + from) * width, (b + 1) * rows * width);
        }
        return this;
    }

    private int[] unflatten(int flat) {
        int[] index = new int[shape.length];
        for (int i = shape.length - 1; i >= 0; i--) {
            index[i] = shape[i] == 0 ? 0 : flat % shape[i];
            flat = shape[i] == 0 ? 0 : flat / shape[i];
        }
        return index;
    }

    /** True when shapes are equal and every element has the same bits (NaNs compared by bits too). */
    public boolean bitEquals(Tensor other) {
        if (!Arrays.equals(shape, other.shape)) {
            return false;
        }
        for (int i = 0; i < size; i++) {
            if (Float.floatToRawIntBits(data[offset + i]) != Float.floatToRawIntBits(other.data[other.offset + i])) {
                return false;
            }
        }
        return true;
    }

    @Override
    public String toString() {
        StringBuilder sb = new StringBuilder("Tensor").append(Arrays.toString(shape)).append(" [");
        int shown = Math.min(size, 8);
        for (int i = 0; i < shown; i++) {
            sb.append(i == 0 ? "" : ", ").append(data[offset + i]);
        }
        return sb.append(size > shown ? ", ...]" : "]").toString();
    }
}
