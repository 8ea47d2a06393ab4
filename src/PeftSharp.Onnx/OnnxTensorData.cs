using System.Buffers.Binary;
using System.Runtime.InteropServices;
using Google.Protobuf;
using Onnx;
using DataType = Onnx.TensorProto.Types.DataType;

namespace PeftSharp.Onnx;

/// <summary>Checks and decodes the data of ONNX <see cref="TensorProto"/>s (raw little-endian bytes or the typed repeated fields).</summary>
public static class OnnxTensorData
{
    /// <summary>The most elements one tensor may claim (2³¹ − 1, the largest .NET array).</summary>
    public const long MaxElements = int.MaxValue;

    /// <summary>The size in bytes of one element of <paramref name="type"/>, or 0 when PeftSharp does not read that type.</summary>
    public static int ElementSize(DataType type) => type switch
    {
        DataType.Float or DataType.Int32 or DataType.Uint32 => 4,
        DataType.Double or DataType.Int64 or DataType.Uint64 => 8,
        DataType.Float16 or DataType.Bfloat16 or DataType.Int16 or DataType.Uint16 => 2,
        DataType.Int8 or DataType.Uint8 or DataType.Bool => 1,
        _ => 0,
    };

    /// <summary>
    /// Checks that <paramref name="tensor"/> is stored in the file (no external data), has a supported
    /// element type, non-negative dimensions and exactly as much data as its dimensions claim.
    /// </summary>
    /// <param name="tensor">The tensor.</param>
    /// <param name="where">What to call it in messages (for example <c>model.onnx: initializer '927'</c>).</param>
    /// <exception cref="OnnxFormatException">The tensor is malformed or unsupported.</exception>
    public static void Validate(TensorProto tensor, string where)
    {
        if (tensor.DataLocation == TensorProto.Types.DataLocation.External || tensor.ExternalData.Count > 0)
        {
            throw new OnnxFormatException($"{where}: stores its data in an external file, which PeftSharp does not read (save the model with its weights inside the .onnx file)");
        }

        if (tensor.Segment is not null)
        {
            throw new OnnxFormatException($"{where}: is a segment of a larger tensor, which PeftSharp does not read");
        }

        var type = (DataType)tensor.DataType;
        var size = ElementSize(type);
        if (size == 0)
        {
            throw new OnnxFormatException($"{where}: element type {(Enum.IsDefined(type) ? type.ToString() : tensor.DataType.ToString(System.Globalization.CultureInfo.InvariantCulture))} is not supported (float, double, float16, bfloat16, int8–64, uint8–64, bool)");
        }

        var count = ElementCount(tensor, where);
        long stored = tensor.RawData.Length > 0 ? tensor.RawData.Length / size : TypedCount(tensor, type);
        if (tensor.RawData.Length > 0 && (tensor.RawData.Length % size != 0 || TypedCount(tensor, type) > 0))
        {
            throw new OnnxFormatException($"{where}: raw data of {tensor.RawData.Length} bytes is not a whole number of {type} elements or is given twice");
        }

        if (stored != count)
        {
            throw new OnnxFormatException($"{where}: dimensions [{string.Join(", ", tensor.Dims)}] claim {count} elements but the file holds {stored}");
        }
    }

    /// <summary>The number of elements the dimensions of <paramref name="tensor"/> claim.</summary>
    /// <exception cref="OnnxFormatException">A dimension is negative or the product exceeds <see cref="MaxElements"/>.</exception>
    public static long ElementCount(TensorProto tensor, string where)
    {
        long count = 1;
        foreach (var dim in tensor.Dims)
        {
            if (dim < 0 || dim > MaxElements)
            {
                throw new OnnxFormatException($"{where}: dimension {dim} is out of range");
            }

            count *= dim;
            if (count > MaxElements)
            {
                throw new OnnxFormatException($"{where}: dimensions [{string.Join(", ", tensor.Dims)}] claim more than {MaxElements} elements");
            }
        }

        return count;
    }

    /// <summary>The values of a validated float tensor.</summary>
    /// <exception cref="OnnxFormatException">The tensor is not float32.</exception>
    public static float[] ReadFloats(TensorProto tensor, string where)
    {
        if ((DataType)tensor.DataType != DataType.Float)
        {
            throw new OnnxFormatException($"{where}: expected float32 data, found {(DataType)tensor.DataType}");
        }

        if (tensor.RawData.Length == 0)
        {
            return tensor.FloatData.ToArray();
        }

        var values = new float[tensor.RawData.Length / sizeof(float)];
        var bytes = tensor.RawData.Span;
        if (BitConverter.IsLittleEndian)
        {
            bytes.CopyTo(MemoryMarshal.AsBytes(values.AsSpan()));
        }
        else
        {
            for (var i = 0; i < values.Length; i++)
            {
                values[i] = BinaryPrimitives.ReadSingleLittleEndian(bytes[(i * 4)..]);
            }
        }

        return values;
    }

    /// <summary>The values of a validated integer tensor (int64 or int32) as 64-bit integers.</summary>
    /// <exception cref="OnnxFormatException">The tensor is not int64 or int32.</exception>
    public static long[] ReadIntegers(TensorProto tensor, string where)
    {
        var type = (DataType)tensor.DataType;
        if (type is not (DataType.Int64 or DataType.Int32))
        {
            throw new OnnxFormatException($"{where}: expected int64 or int32 data, found {type}");
        }

        if (tensor.RawData.Length == 0)
        {
            return type == DataType.Int64 ? tensor.Int64Data.ToArray() : tensor.Int32Data.Select(v => (long)v).ToArray();
        }

        var bytes = tensor.RawData.Span;
        var size = ElementSize(type);
        var values = new long[bytes.Length / size];
        for (var i = 0; i < values.Length; i++)
        {
            values[i] = type == DataType.Int64 ? BinaryPrimitives.ReadInt64LittleEndian(bytes[(i * 8)..]) : BinaryPrimitives.ReadInt32LittleEndian(bytes[(i * 4)..]);
        }

        return values;
    }

    /// <summary>Replaces the data of a float tensor with <paramref name="values"/> stored as raw little-endian bytes.</summary>
    public static void WriteFloats(TensorProto tensor, ReadOnlySpan<float> values)
    {
        var bytes = new byte[values.Length * sizeof(float)];
        for (var i = 0; i < values.Length; i++)
        {
            BinaryPrimitives.WriteSingleLittleEndian(bytes.AsSpan(i * 4), values[i]);
        }

        tensor.FloatData.Clear();
        tensor.RawData = ByteString.CopyFrom(bytes);
    }

    /// <summary>A new float tensor called <paramref name="name"/> with <paramref name="dims"/> and <paramref name="values"/>.</summary>
    public static TensorProto CreateFloats(string name, IEnumerable<long> dims, ReadOnlySpan<float> values)
    {
        var tensor = new TensorProto { Name = name, DataType = (int)DataType.Float };
        tensor.Dims.AddRange(dims);
        WriteFloats(tensor, values);
        return tensor;
    }

    /// <summary>A new int64 tensor called <paramref name="name"/> with <paramref name="dims"/> and <paramref name="values"/>.</summary>
    public static TensorProto CreateIntegers(string name, IEnumerable<long> dims, IEnumerable<long> values)
    {
        var tensor = new TensorProto { Name = name, DataType = (int)DataType.Int64 };
        tensor.Dims.AddRange(dims);
        tensor.Int64Data.AddRange(values);
        return tensor;
    }

    private static long TypedCount(TensorProto tensor, DataType type) => type switch
    {
        DataType.Float => tensor.FloatData.Count,
        DataType.Double => tensor.DoubleData.Count,
        DataType.Int64 => tensor.Int64Data.Count,
        DataType.Uint32 or DataType.Uint64 => tensor.Uint64Data.Count,
        _ => tensor.Int32Data.Count,
    };
}
