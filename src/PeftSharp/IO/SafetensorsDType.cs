using TorchSharp;

namespace PeftSharp.IO;

/// <summary>Maps safetensors dtype names to TorchSharp scalar types and back.</summary>
public static class SafetensorsDType
{
    private static readonly (string Name, torch.ScalarType Type, int Size)[] Table =
    [
        ("F64", torch.ScalarType.Float64, 8),
        ("F32", torch.ScalarType.Float32, 4),
        ("F16", torch.ScalarType.Float16, 2),
        ("BF16", torch.ScalarType.BFloat16, 2),
        ("I64", torch.ScalarType.Int64, 8),
        ("I32", torch.ScalarType.Int32, 4),
        ("I16", torch.ScalarType.Int16, 2),
        ("I8", torch.ScalarType.Int8, 1),
        ("U8", torch.ScalarType.Byte, 1),
        ("BOOL", torch.ScalarType.Bool, 1),
    ];

    /// <summary>The order the reference writer lays tensors out in (larger element types first).</summary>
    internal static int WriteOrder(string name) => name switch
    {
        "I64" => 0, "F64" => 1, "F32" => 2, "I32" => 3, "BF16" => 4, "F16" => 5, "I16" => 6,
        "I8" => 7, "U8" => 8, "BOOL" => 9, _ => 10,
    };

    /// <summary>Looks up a safetensors dtype name; false for names TorchSharp cannot hold.</summary>
    public static bool TryParse(string name, out torch.ScalarType type, out int elementSize)
    {
        foreach (var entry in Table)
        {
            if (entry.Name == name)
            {
                type = entry.Type;
                elementSize = entry.Size;
                return true;
            }
        }

        type = default;
        elementSize = 0;
        return false;
    }

    /// <summary>The safetensors name of a TorchSharp scalar type.</summary>
    /// <exception cref="ArgumentException">The type has no safetensors name supported here.</exception>
    public static string NameOf(torch.ScalarType type)
    {
        foreach (var entry in Table)
        {
            if (entry.Type == type)
            {
                return entry.Name;
            }
        }

        throw new ArgumentException($"dtype {type} cannot be stored in safetensors by PeftSharp", nameof(type));
    }
}
