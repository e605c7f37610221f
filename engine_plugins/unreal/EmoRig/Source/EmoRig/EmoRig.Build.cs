using UnrealBuildTool;

public class EmoRig : ModuleRules
{
	public EmoRig(ReadOnlyTargetRules Target) : base(Target)
	{
		PCHUsage = ModuleRules.PCHUsageMode.UseExplicitOrSharedPCHs;

		PublicDependencyModuleNames.AddRange(new string[]
		{
			"Core",
			"CoreUObject",
			"LiveLinkInterface",
		});

		PrivateDependencyModuleNames.AddRange(new string[]
		{
			"Engine",
			"Networking",
			"Sockets",
			"SlateCore",
			"EmoRigCore",
		});
	}
}
