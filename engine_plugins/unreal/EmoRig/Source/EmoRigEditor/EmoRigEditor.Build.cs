using UnrealBuildTool;

public class EmoRigEditor : ModuleRules
{
	public EmoRigEditor(ReadOnlyTargetRules Target) : base(Target)
	{
		PCHUsage = ModuleRules.PCHUsageMode.UseExplicitOrSharedPCHs;

		PrivateDependencyModuleNames.AddRange(new string[]
		{
			"Core",
			"CoreUObject",
			"Engine",
			"InputCore",
			"Slate",
			"SlateCore",
			"PropertyEditor",
			"LiveLinkInterface",
			"EmoRig",
		});
	}
}
